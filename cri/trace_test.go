package cri

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestAnnotateNamesPodAndContainer(t *testing.T) {
	for name, tc := range map[string]struct {
		req, resp any
		pod, ctr  string
	}{
		"RunPodSandbox: from the response": {&runtime.RunPodSandboxRequest{}, &runtime.RunPodSandboxResponse{PodSandboxId: "p1"}, "p1", ""},
		"CreateContainer: pod from the request, container from the response": {
			&runtime.CreateContainerRequest{PodSandboxId: "p1"}, &runtime.CreateContainerResponse{ContainerId: "c1"}, "p1", "c1"},
		"StartContainer":                  {&runtime.StartContainerRequest{ContainerId: "c1"}, &runtime.StartContainerResponse{}, "", "c1"},
		"StopPodSandbox":                  {&runtime.StopPodSandboxRequest{PodSandboxId: "p1"}, &runtime.StopPodSandboxResponse{}, "p1", ""},
		"failed RunPodSandbox (nil resp)": {&runtime.RunPodSandboxRequest{}, (*runtime.RunPodSandboxResponse)(nil), "", ""},
		"Version: no IDs":                 {&runtime.VersionRequest{}, &runtime.VersionResponse{}, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			ctx, span := tp.Tracer("test").Start(context.Background(), "call")
			annotate(ctx, tc.req, tc.resp)
			span.End()
			got := map[string]string{}
			for _, kv := range rec.Ended()[0].Attributes() {
				got[string(kv.Key)] = kv.Value.AsString()
			}
			if got["cri.pod_sandbox.id"] != tc.pod || got["cri.container.id"] != tc.ctr || len(got) != nonEmpty(tc.pod, tc.ctr) {
				t.Errorf("attributes %v, want pod %q container %q", got, tc.pod, tc.ctr)
			}
		})
	}
}

func nonEmpty(s ...string) (n int) {
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	return n
}

func TestAnnotateWithoutSpanIsANoOp(t *testing.T) {
	// Tracing off: no span in the context; nothing to do, nothing to fail.
	ctx, req, resp := context.Background(), &runtime.StartContainerRequest{ContainerId: "c1"}, &runtime.StartContainerResponse{}
	allocs := testing.AllocsPerRun(100, func() { annotate(ctx, req, resp) })
	if allocs != 0 {
		t.Errorf("annotate allocates %v times per call with tracing off", allocs)
	}
}
