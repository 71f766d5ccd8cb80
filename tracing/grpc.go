package tracing

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// eventsSubscribe is containerd's event stream: one call that lasts as
// long as cricketd and belongs to no CRI call; a span for it would only
// be exported at shutdown.
const eventsSubscribe = "/containerd.services.events.v1.Events/Subscribe"

func handlerOptions(tp trace.TracerProvider) []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tp),
		// W3C trace context, explicitly: OpenTelemetry's global
		// propagator is a no-op unless installed, and cricket leaves the
		// global provider and propagator alone. It reads kubelet's traceparent and passes cricket's to
		// containerd (which joins the trace when its own tracing is on).
		otelgrpc.WithPropagators(propagation.TraceContext{}),
		// Spans only; cricket's metrics are its own Prometheus endpoint.
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
	}
}

func serverHandler(tp trace.TracerProvider) stats.Handler {
	return otelgrpc.NewServerHandler(handlerOptions(tp)...)
}

func clientHandler(tp trace.TracerProvider) stats.Handler {
	return otelgrpc.NewClientHandler(append(handlerOptions(tp),
		otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool { return info.FullMethodName != eventsSubscribe }))...)
}

// ServerOptions are the CRI server's options: a stats handler that starts
// a server span per call, before cricket's decorator runs (package cri
// adds the pod and container IDs to it). None when tracing is off.
func (t *Tracing) ServerOptions() []grpc.ServerOption {
	if t.server == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(t.server)}
}

// DialOptions are the containerd connection's options: a stats handler
// that starts a client span per containerd call, the child of the span in
// the call's context. None when tracing is off.
func (t *Tracing) DialOptions() []grpc.DialOption {
	if t.client == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(t.client)}
}
