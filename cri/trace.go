package cri

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span attributes naming the pod and the container a call is about, so
// that the trace of a pod's start can be found from the IDs kubelet and
// crictl show.
const (
	attrPodSandboxID = attribute.Key("cri.pod_sandbox.id")
	attrContainerID  = attribute.Key("cri.container.id")
)

// Every CRI request that is about one pod or container has these getters;
// RunPodSandbox's and CreateContainer's responses carry the new ID.
type (
	podSandboxIDer interface{ GetPodSandboxId() string }
	containerIDer  interface{ GetContainerId() string }
)

// callIDs returns the pod sandbox and container IDs a call names: the
// request names the object, a response fills in what it created.
func callIDs(req, resp any) (pod, ctr string) {
	for _, m := range [2]any{req, resp} {
		if g, ok := m.(podSandboxIDer); ok && pod == "" {
			pod = g.GetPodSandboxId()
		}
		if g, ok := m.(containerIDer); ok && ctr == "" {
			ctr = g.GetContainerId()
		}
	}
	return pod, ctr
}

// annotate adds the pod sandbox and container IDs of a call to its span
// (started by the gRPC stats handler of package tracing). It returns at
// once when the span does not record: tracing off, or not sampled.
func annotate(ctx context.Context, req, resp any) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	pod, ctr := callIDs(req, resp)
	if pod != "" {
		span.SetAttributes(attrPodSandboxID.String(pod))
	}
	if ctr != "" {
		span.SetAttributes(attrContainerID.String(ctr))
	}
}

// traceAttr names the call's trace in its log line, to go from a failed
// call in the log to its trace; none when the call is not traced.
func traceAttr(ctx context.Context) (slog.Attr, bool) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return slog.Attr{}, false
	}
	return slog.String("trace_id", sc.TraceID().String()), true
}
