// Package otlprecv is an OTLP/gRPC trace collector for tests: it keeps
// the spans exported to it, flattened for assertions.
package otlprecv

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Receiver is an OTLP/gRPC trace collector on 127.0.0.1, in the test
// process: it keeps every span exported to it and counts the connections
// made to it (to show that a daemon with tracing off makes none).
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	// Addr is host:port, what tracing.endpoint takes.
	Addr string

	conns atomic.Int64
	mu    sync.Mutex
	spans []Span
}

// Span is one received span, flattened for assertions.
type Span struct {
	Name    string
	Kind    tracepb.Span_SpanKind
	TraceID string // hex
	SpanID  string
	Parent  string // parent span ID, "" for a root
	Service string // service.name of the exporting resource
	Attrs   map[string]string
}

// String names the span for failure messages.
func (s Span) String() string {
	return fmt.Sprintf("%s[%s trace=%.8s span=%.8s parent=%.8s %v]", s.Name, s.Kind, s.TraceID, s.SpanID, s.Parent, s.Attrs)
}

// Start starts a receiver that lives until the test ends.
func Start(tb testing.TB) *Receiver {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Receiver{Addr: l.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, r)
	go srv.Serve(countingListener{l, &r.conns})
	tb.Cleanup(srv.Stop)
	return r
}

// Export implements the OTLP trace service.
func (r *Receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					Name:    s.GetName(),
					Kind:    s.GetKind(),
					TraceID: hex.EncodeToString(s.GetTraceId()),
					SpanID:  hex.EncodeToString(s.GetSpanId()),
					Parent:  hex.EncodeToString(s.GetParentSpanId()),
					Service: service,
					Attrs:   attrs(s.GetAttributes()),
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Connections returns how many connections were accepted so far.
func (r *Receiver) Connections() int64 { return r.conns.Load() }

// attrs flattens OTLP attributes to strings (enough for IDs and names).
func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = fmt.Sprint(v.GetValue())
		}
	}
	return m
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}
