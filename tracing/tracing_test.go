package tracing

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/otlprecv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newTracing(t *testing.T, endpoint string, ratio float64) *Tracing {
	t.Helper()
	tr, err := New(config.Tracing{Endpoint: endpoint, SamplingRatio: ratio, ServiceName: "cricket-unit", Insecure: true}, "v0-test", quiet)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// call makes one gRPC call from a client with tr's dial options to a
// server with tr's server options: the shape of kubelet -> cricketd and
// cricketd -> containerd, both through tr's handlers.
func call(t *testing.T, tr *Tracing) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(tr.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(l)
	defer srv.Stop()
	conn, err := grpc.NewClient(l.Addr().String(), append(tr.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("call through the traced server: %v", err)
	}
}

func TestOffBuildsNothingAndConnectsNowhere(t *testing.T) {
	recv := otlprecv.Start(t)
	// The exporter would read these if one were built: tracing off must
	// not fall back on them.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+recv.Addr)
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	global := otel.GetTracerProvider()

	tr := newTracing(t, "", 1)
	if tr.Enabled() || tr.ServerOptions() != nil || tr.DialOptions() != nil {
		t.Fatalf("tracing off installs handlers: enabled=%v server=%v dial=%v", tr.Enabled(), tr.ServerOptions(), tr.DialOptions())
	}
	call(t, tr)
	if err := tr.Shutdown(time.Second); err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != global {
		t.Error("tracing off replaced OpenTelemetry's global tracer provider")
	}
	if n, spans := recv.Connections(), recv.Spans(); n != 0 || len(spans) != 0 {
		t.Errorf("tracing off: %d connections to the receiver, spans %v", n, spans)
	}
}

func TestSpansOfBothSidesAreFlushedAtShutdown(t *testing.T) {
	recv := otlprecv.Start(t)
	tr := newTracing(t, recv.Addr, 1)
	call(t, tr)
	// No waiting for the batch timeout: Shutdown exports what is queued.
	if err := tr.Shutdown(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	const method = "grpc.health.v1.Health/Check"
	var client, server *otlprecv.Span
	spans := recv.Spans()
	for i, s := range spans {
		if s.Name != method {
			continue
		}
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_CLIENT:
			client = &spans[i]
		case tracepb.Span_SPAN_KIND_SERVER:
			server = &spans[i]
		}
	}
	if client == nil || server == nil {
		t.Fatalf("want a client and a server span for %s, got %v", method, spans)
	}
	// The trace context crossed the call: containerd joins cricket's
	// trace, and cricket joins kubelet's.
	if server.TraceID != client.TraceID || server.Parent != client.SpanID {
		t.Errorf("server span %v is not the child of client span %v", server, client)
	}
	if server.Service != "cricket-unit" {
		t.Errorf("service.name = %q, want tracing.service_name", server.Service)
	}
}

func TestSamplingRatioZeroRecordsNoNewTrace(t *testing.T) {
	recv := otlprecv.Start(t)
	tr := newTracing(t, recv.Addr, 0)
	call(t, tr)
	if err := tr.Shutdown(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if spans := recv.Spans(); len(spans) != 0 {
		t.Errorf("sampling_ratio 0 exported %v", spans)
	}
}

func TestUnresponsiveCollectorBlocksNothing(t *testing.T) {
	// A collector that accepts connections and never answers: exports
	// hang until their timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	defer func() {
		l.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	}()

	tr := newTracing(t, l.Addr().String(), 1)
	start := time.Now()
	for range 20 {
		call(t, tr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("20 traced calls took %s with an unresponsive collector", d)
	}
	start = time.Now()
	err = tr.Shutdown(time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown(1s) took %s", d)
	}
	if err == nil {
		t.Error("Shutdown reported success although no span reached the collector")
	}
	// Nothing of the SDK or the exporter runs on after Shutdown.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := goroutinesIn("go.opentelemetry.io/otel/sdk/trace", "otlptracegrpc", "google.golang.org/grpc/internal/transport")
		if left == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines still running 5s after Shutdown:\n%s", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goroutinesIn returns the stacks of the goroutines that run code of any
// of the packages.
func goroutinesIn(pkgs ...string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, p := range pkgs {
			if strings.Contains(g, p) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

func TestExportErrorsAreLoggedAtMostOncePerInterval(t *testing.T) {
	var buf strings.Builder
	e := &errorLog{log: slog.New(slog.NewTextHandler(&buf, nil)), endpoint: "127.0.0.1:4317"}
	for range 5 {
		e.Handle(io.ErrUnexpectedEOF)
	}
	if n := strings.Count(buf.String(), "spans not exported"); n != 1 {
		t.Fatalf("5 errors within a minute logged %d times:\n%s", n, buf.String())
	}
	e.last = e.last.Add(-errorEvery) // a minute later
	e.Handle(io.ErrUnexpectedEOF)
	if !strings.Contains(buf.String(), "errors_not_logged=4") {
		t.Errorf("the next line does not count the 4 left out:\n%s", buf.String())
	}
}
