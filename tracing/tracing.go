// Package tracing sets up OpenTelemetry tracing for cricketd: a server
// span per CRI call, a client span per containerd call made under it, and
// a batching OTLP/gRPC exporter. Off (no endpoint), it builds nothing: no
// SDK, no exporter, no gRPC stats handlers, so the call path runs exactly
// as without tracing.
//
// The tracer provider is handed to the gRPC stats handlers explicitly and
// is not installed as OpenTelemetry's global one (only the global error
// handler is set, to cricketd's log): containerd's client
// library and the registry transport then stay on the global no-op
// tracer, which keeps the span context of the CRI call in the context, so
// the containerd gRPC spans are direct children of the CRI spans.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/stats"

	"github.com/cricket-cri/cricket/config"
)

// exportTimeout bounds one export of a batch, retries included. Exports
// run on the batch processor's goroutine, never on a CRI call's: a slow or
// unreachable collector costs dropped spans, not call latency.
const exportTimeout = 10 * time.Second

// Tracing is cricketd's tracing set-up. The zero value is tracing off.
type Tracing struct {
	tp     *sdktrace.TracerProvider // nil when off
	exp    *otlptrace.Exporter
	server stats.Handler
	client stats.Handler
}

// New builds tracing as cfg says. With no endpoint it returns the zero
// Tracing at once. Otherwise the exporter is created without connecting
// (gRPC connects on the first export), so a collector that is down at
// start-up does not delay or stop cricketd. Export errors go to log.
func New(cfg config.Tracing, serviceVersion string, log *slog.Logger) (*Tracing, error) {
	if cfg.Endpoint == "" {
		return &Tracing{}, nil
	}
	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithEndpoint(cfg.Endpoint),
		otlptracegrpc.WithTimeout(exportTimeout),
		// Retry transient failures (collector restarting) within the
		// export's budget, then drop the batch.
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
			Enabled:         true,
			InitialInterval: time.Second,
			MaxInterval:     5 * time.Second,
			MaxElapsedTime:  exportTimeout,
		}),
	}
	if cfg.Insecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	} // else the exporter's default: TLS verified against the system's CAs
	exp, err := otlptracegrpc.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing.endpoint %s: OTLP exporter: %w", cfg.Endpoint, err)
	}
	// Ours last: service_name wins over OTEL_SERVICE_NAME, while
	// OTEL_RESOURCE_ATTRIBUTES can still add attributes (node name...).
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", serviceVersion),
	))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	// The SDK reports failed exports through OpenTelemetry's global error
	// handler (stderr by default): route them to cricketd's log.
	otel.SetErrorHandler(&errorLog{log: log, endpoint: cfg.Endpoint})
	tp := sdktrace.NewTracerProvider(
		// Default batching: up to 512 spans or 5s per export, a queue of
		// 2048 spans that drops (never blocks the caller) when full.
		sdktrace.WithBatcher(exp),
		// A parent's decision wins (kubelet's traceparent, or the CRI
		// span for the containerd calls under it); the ratio decides for
		// traces that start here.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SamplingRatio))),
		sdktrace.WithResource(res),
	)
	return &Tracing{tp: tp, exp: exp, server: serverHandler(tp), client: clientHandler(tp)}, nil
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.tp != nil }

// Shutdown ends and exports the spans still queued, waiting at most
// timeout, then stops the exporter and its connection. When the collector
// does not take them in time, the exports still running are cut short
// (their spans dropped) so that no exporter goroutine outlives the call.
func (t *Tracing) Shutdown(timeout time.Duration) error {
	if t.tp == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := t.tp.Shutdown(ctx)
	if ctx.Err() != nil {
		// The processor's goroutine is still draining into an export:
		// stopping the exporter with an expired context cancels it and
		// makes the exports after it fail at once.
		err = errors.Join(err, t.exp.Shutdown(ctx))
	}
	if err != nil {
		return fmt.Errorf("tracing: flush spans: %w", err)
	}
	return nil
}
