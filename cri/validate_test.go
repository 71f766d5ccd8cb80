package cri

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{
		"0123abcd":               true,
		strings.Repeat("a", 64):  true,
		strings.Repeat("a", 128): true,
		"":                       false,
		strings.Repeat("a", 129): false,
		"../../etc":              false,
		`a\b`:                    false,
		"a b":                    false,
		"a\tb":                   false,
		"a\nb":                   false,
		"a\x00b":                 false,
		"a\u200bb":               false, // not printable
		"café":                   true,  // printable, if no ID has it
	} {
		err := checkID("container_id", id)
		if (err == nil) != ok {
			t.Errorf("checkID(%q) = %v, want ok %v", id, err, ok)
		}
		if err != nil && (status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "container_id")) {
			t.Errorf("checkID(%q) = %v, want InvalidArgument naming the field", id, err)
		}
	}
}

func TestSplitComma(t *testing.T) {
	for in, want := range map[string][]string{
		"":                       nil,
		"10.0.0.0/16":            {"10.0.0.0/16"},
		"10.0.0.0/16, fd00::/64": {"10.0.0.0/16", "fd00::/64"},
		" , 10.0.0.0/16 ,,":      {"10.0.0.0/16"},
	} {
		got := splitComma(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("splitComma(%q) = %q, want %q", in, got, want)
		}
	}
}

// Requests that no object can answer are refused with InvalidArgument
// before any domain service is asked: the server under test has none, so
// a request that got past validation would panic.
func TestBadRequestsAreRefusedBeforeTheDomain(t *testing.T) {
	s := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	bad := "../c1"
	for name, call := range map[string]func() error{
		"CreateContainer without sandbox": func() error {
			_, err := s.CreateContainer(ctx, &runtime.CreateContainerRequest{Config: &runtime.ContainerConfig{}})
			return err
		},
		"CreateContainer without config": func() error {
			_, err := s.CreateContainer(ctx, &runtime.CreateContainerRequest{PodSandboxId: "p1"})
			return err
		},
		"StartContainer": func() error {
			_, err := s.StartContainer(ctx, &runtime.StartContainerRequest{ContainerId: bad})
			return err
		},
		"StopContainer": func() error {
			_, err := s.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: bad})
			return err
		},
		"StopContainer with a negative timeout": func() error {
			_, err := s.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: "c1", Timeout: -1})
			return err
		},
		"RemoveContainer": func() error { _, err := s.RemoveContainer(ctx, &runtime.RemoveContainerRequest{}); return err },
		"ContainerStatus": func() error {
			_, err := s.ContainerStatus(ctx, &runtime.ContainerStatusRequest{ContainerId: "a b"})
			return err
		},
		"UpdateContainerResources without resources": func() error {
			_, err := s.UpdateContainerResources(ctx, &runtime.UpdateContainerResourcesRequest{ContainerId: "c1"})
			return err
		},
		"ReopenContainerLog": func() error {
			_, err := s.ReopenContainerLog(ctx, &runtime.ReopenContainerLogRequest{ContainerId: strings.Repeat("c", 200)})
			return err
		},
		"ExecSync without cmd": func() error {
			_, err := s.ExecSync(ctx, &runtime.ExecSyncRequest{ContainerId: "c1"})
			return err
		},
		"ExecSync with a negative timeout": func() error {
			_, err := s.ExecSync(ctx, &runtime.ExecSyncRequest{ContainerId: "c1", Cmd: []string{"true"}, Timeout: -1})
			return err
		},
		"ContainerStats": func() error { _, err := s.ContainerStats(ctx, &runtime.ContainerStatsRequest{}); return err },
		"RunPodSandbox without config": func() error {
			_, err := s.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{})
			return err
		},
		"StopPodSandbox": func() error {
			_, err := s.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: bad})
			return err
		},
		"RemovePodSandbox": func() error {
			_, err := s.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{})
			return err
		},
		"PodSandboxStatus": func() error {
			_, err := s.PodSandboxStatus(ctx, &runtime.PodSandboxStatusRequest{PodSandboxId: bad})
			return err
		},
		"PodSandboxStats": func() error {
			_, err := s.PodSandboxStats(ctx, &runtime.PodSandboxStatsRequest{PodSandboxId: bad})
			return err
		},
		"UpdatePodSandboxResources": func() error {
			_, err := s.UpdatePodSandboxResources(ctx, &runtime.UpdatePodSandboxResourcesRequest{PodSandboxId: bad})
			return err
		},
		"Exec":   func() error { _, err := s.Exec(ctx, &runtime.ExecRequest{ContainerId: bad}); return err },
		"Attach": func() error { _, err := s.Attach(ctx, &runtime.AttachRequest{}); return err },
		"PortForward": func() error {
			_, err := s.PortForward(ctx, &runtime.PortForwardRequest{PodSandboxId: bad})
			return err
		},
		"PullImage without image": func() error { _, err := s.PullImage(ctx, &runtime.PullImageRequest{}); return err },
		"ImageStatus without image": func() error {
			_, err := s.ImageStatus(ctx, &runtime.ImageStatusRequest{Image: &runtime.ImageSpec{}})
			return err
		},
		"RemoveImage without image": func() error { _, err := s.RemoveImage(ctx, &runtime.RemoveImageRequest{}); return err },
		"UpdateRuntimeConfig with a bad pod CIDR": func() error {
			_, err := s.UpdateRuntimeConfig(ctx, &runtime.UpdateRuntimeConfigRequest{RuntimeConfig: &runtime.RuntimeConfig{
				NetworkConfig: &runtime.NetworkConfig{PodCidr: "10.0.0.0/16,not-a-cidr"}}})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("reached the domain: %v", r)
				}
			}()
			// As the client sees it: through the decorator's mapping.
			if err := call(); status.Code(toStatus(err)) != codes.InvalidArgument {
				t.Errorf("%v, want InvalidArgument", err)
			}
		})
	}
	// An empty pod CIDR is no change, and asks nothing.
	if _, err := s.UpdateRuntimeConfig(ctx, &runtime.UpdateRuntimeConfigRequest{}); err != nil {
		t.Errorf("empty UpdateRuntimeConfig: %v", err)
	}
}

func TestGatedMethods(t *testing.T) {
	for method, want := range map[string]bool{
		"/runtime.v1.RuntimeService/ListContainers":      true,
		"/runtime.v1.RuntimeService/RunPodSandbox":       true,
		"/runtime.v1.RuntimeService/GetContainerEvents":  true,
		"/runtime.v1.RuntimeService/Version":             false,
		"/runtime.v1.RuntimeService/Status":              false,
		"/runtime.v1.RuntimeService/RuntimeConfig":       false,
		"/runtime.v1.RuntimeService/UpdateRuntimeConfig": false,
		"/runtime.v1.ImageService/PullImage":             false,
		"/runtime.v1.ImageService/ListImages":            false,
	} {
		if gated(method) != want {
			t.Errorf("gated(%s) = %v, want %v", method, !want, want)
		}
	}
}

type fakeStream struct{ grpc.ServerStream }

func (fakeStream) Context() context.Context { return context.Background() }

// Until recovery finished, gated calls fail with its error and never reach
// their handler; the others, and every call after it, do.
func TestGateWaitsForRecovery(t *testing.T) {
	notYet := status.Error(codes.Unavailable, "recovering")
	recovered := notYet
	s := New(Deps{Recovered: func() error { return recovered }})
	called := 0
	unary := func(method string) error {
		_, err := s.gateUnary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: method},
			func(context.Context, any) (any, error) { called++; return nil, nil })
		return err
	}
	stream := func(method string) error {
		return s.gateStream(nil, fakeStream{}, &grpc.StreamServerInfo{FullMethod: method},
			func(any, grpc.ServerStream) error { called++; return nil })
	}
	if err := unary("/runtime.v1.RuntimeService/ListContainers"); !errors.Is(err, notYet) || called != 0 {
		t.Errorf("gated unary before recovery: %v, handler called %d times", err, called)
	}
	if err := stream("/runtime.v1.RuntimeService/StreamContainers"); !errors.Is(err, notYet) || called != 0 {
		t.Errorf("gated stream before recovery: %v, handler called %d times", err, called)
	}
	if err := unary("/runtime.v1.RuntimeService/Version"); err != nil || called != 1 {
		t.Errorf("Version before recovery: %v", err)
	}
	if err := stream("/runtime.v1.ImageService/StreamImages"); err != nil || called != 2 {
		t.Errorf("an image stream before recovery: %v", err)
	}
	recovered = nil
	if err := unary("/runtime.v1.RuntimeService/ListContainers"); err != nil || called != 3 {
		t.Errorf("after recovery: %v", err)
	}
	if err := stream("/runtime.v1.RuntimeService/StreamContainers"); err != nil || called != 4 {
		t.Errorf("a stream after recovery: %v", err)
	}
}

// The decorator turns a handler's panic into Internal and a domain error
// into its code, for unary and streaming calls alike.
func TestInstrumentMapsPanicsAndErrors(t *testing.T) {
	in := &instrument{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	info := &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/StartContainer"}
	req := &runtime.StartContainerRequest{ContainerId: "c1"}
	_, err := in.unary(context.Background(), req, info, func(context.Context, any) (any, error) { panic("boom") })
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "StartContainer") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic: %v, want Internal naming the RPC and the panic", err)
	}
	_, err = in.unary(context.Background(), req, info, func(context.Context, any) (any, error) {
		return nil, errors.Join(errors.New("start container c1"), errdefs.ErrFailedPrecondition)
	})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("domain error: %v, want FailedPrecondition", err)
	}
	sinfo := &grpc.StreamServerInfo{FullMethod: "/runtime.v1.RuntimeService/StreamContainers"}
	if err := in.stream(nil, fakeStream{}, sinfo, func(any, grpc.ServerStream) error { panic("boom") }); status.Code(err) != codes.Internal {
		t.Errorf("stream panic: %v, want Internal", err)
	}
	if err := in.stream(nil, fakeStream{}, sinfo, func(any, grpc.ServerStream) error { return errdefs.ErrNotFound }); status.Code(err) != codes.NotFound {
		t.Errorf("stream error: %v, want NotFound", err)
	}
	if _, err := in.unary(context.Background(), req, info, func(context.Context, any) (any, error) { return "ok", nil }); err != nil {
		t.Errorf("success: %v", err)
	}
}
