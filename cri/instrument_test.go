package cri

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A failed call's log line names what the call was about, whichever RPC
// it was: the IDs the request carries, or the names of what it creates.
func TestFailedCallLogNamesPodAndContainer(t *testing.T) {
	podCfg := &runtime.PodSandboxConfig{Metadata: &runtime.PodSandboxMetadata{Name: "web", Namespace: "shop"}}
	for name, tc := range map[string]struct {
		rpc  string
		req  any
		want map[string]string // attributes beyond rpc, code, error, duration
	}{
		"RunPodSandbox": {"RunPodSandbox", &runtime.RunPodSandboxRequest{Config: podCfg},
			map[string]string{"pod": "shop/web"}},
		"CreateContainer": {"CreateContainer", &runtime.CreateContainerRequest{PodSandboxId: "p1",
			Config: &runtime.ContainerConfig{Metadata: &runtime.ContainerMetadata{Name: "app"}}, SandboxConfig: podCfg},
			map[string]string{"sandbox": "p1", "container_name": "app"}},
		"StartContainer":               {"StartContainer", &runtime.StartContainerRequest{ContainerId: "c1"}, map[string]string{"container": "c1"}},
		"ExecSync":                     {"ExecSync", &runtime.ExecSyncRequest{ContainerId: "c1"}, map[string]string{"container": "c1"}},
		"StopPodSandbox":               {"StopPodSandbox", &runtime.StopPodSandboxRequest{PodSandboxId: "p1"}, map[string]string{"sandbox": "p1"}},
		"PortForward":                  {"PortForward", &runtime.PortForwardRequest{PodSandboxId: "p1"}, map[string]string{"sandbox": "p1"}},
		"PullImage in pod":             {"PullImage", &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: "busybox"}, SandboxConfig: podCfg}, map[string]string{"image": "busybox", "pod": "shop/web"}},
		"Version":                      {"Version", &runtime.VersionRequest{}, map[string]string{}},
		"RunPodSandbox without config": {"RunPodSandbox", &runtime.RunPodSandboxRequest{}, map[string]string{}},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			in := &instrument{log: slog.New(slog.NewJSONHandler(&buf, nil))}
			_, err := in.unary(context.Background(), tc.req, &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/" + tc.rpc},
				func(context.Context, any) (any, error) { return nil, fmt.Errorf("it broke: %w", errdefs.ErrNotFound) })
			if err == nil {
				t.Fatal("the call succeeded")
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log %q: %v", buf.String(), err)
			}
			if line["msg"] != "CRI call failed" || line["rpc"] != tc.rpc || line["code"] != "NotFound" || line["error"] != "it broke: not found" {
				t.Errorf("log line %v", line)
			}
			for _, k := range []string{"time", "level", "msg", "rpc", "code", "error", "duration"} {
				delete(line, k)
			}
			if len(line) != len(tc.want) {
				t.Errorf("attributes %v, want %v", line, tc.want)
			}
			for k, v := range tc.want {
				if line[k] != v {
					t.Errorf("%s = %v, want %q (line %v)", k, line[k], v, line)
				}
			}
		})
	}
}

// Naming the call costs nothing for calls that name nothing, and no more
// than the attributes themselves otherwise.
func TestCallAttrsAllocations(t *testing.T) {
	attrs := make([]slog.Attr, 0, 8)
	req := &runtime.VersionRequest{}
	if n := testing.AllocsPerRun(100, func() { attrs = callAttrs(attrs[:0], req, nil) }); n != 0 {
		t.Errorf("callAttrs allocates %v times for a call that names nothing", n)
	}
	sreq := &runtime.StartContainerRequest{ContainerId: "c1"}
	if n := testing.AllocsPerRun(100, func() { attrs = callAttrs(attrs[:0], sreq, nil) }); n != 0 {
		t.Errorf("callAttrs allocates %v times for a container ID", n)
	}
}
