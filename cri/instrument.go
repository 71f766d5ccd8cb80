package cri

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/metrics"
)

// instrument is the one decorator every CRI call passes through: it turns
// panics into Internal errors, maps domain errors to gRPC codes, logs each
// failed call once (and, at debug level, every call with its duration),
// and names the pod and container of a call on its trace span (the span
// itself comes from the gRPC stats handler that package tracing installs
// when tracing is on, so that it also covers the decoding of messages).
type instrument struct {
	log     *slog.Logger
	metrics *metrics.Metrics // nil when metrics are off
}

func (in *instrument) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = in.panicked(info.FullMethod, r)
		}
		err = toStatus(err)
		annotate(ctx, req, resp)
		in.done(ctx, info.FullMethod, start, err, req, resp)
	}()
	return handler(ctx, req)
}

func (in *instrument) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = in.panicked(info.FullMethod, r)
		}
		err = toStatus(err)
		in.done(ss.Context(), info.FullMethod, start, err, nil, nil)
	}()
	return handler(srv, ss)
}

func (in *instrument) panicked(method string, r any) error {
	in.log.Error("panic in CRI call", "rpc", path.Base(method), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "%s: internal error: %v", path.Base(method), r)
}

// done records a call's outcome. Its log line names what the call was
// about (see callAttrs), so that a failure can be told apart from the
// other calls of the same RPC without the request at hand.
func (in *instrument) done(ctx context.Context, method string, start time.Time, err error, req, resp any) {
	rpc := path.Base(method)
	d := time.Since(start)
	in.metrics.ObserveRPC(rpc, status.Code(err).String(), d)
	if err == nil && !in.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	level, msg := slog.LevelDebug, "CRI call"
	attrs := []slog.Attr{slog.String("rpc", rpc)}
	if err != nil {
		level, msg = slog.LevelError, "CRI call failed"
		attrs = append(attrs, slog.String("code", status.Code(err).String()), slog.String("error", status.Convert(err).Message()))
	}
	attrs = callAttrs(attrs, req, resp)
	attrs = append(attrs, slog.Duration("duration", d))
	if a, ok := traceAttr(ctx); ok {
		attrs = append(attrs, a)
	}
	in.log.LogAttrs(ctx, level, msg, attrs...)
}

// The pod, container and image a request describes when it names no ID
// yet: RunPodSandbox's pod, CreateContainer's container and pod,
// PullImage's image and pod. The generated request types have these
// getters, nil-safe as the ID getters are.
type (
	podConfiger interface {
		GetConfig() *runtime.PodSandboxConfig
	}
	sandboxConfiger interface {
		GetSandboxConfig() *runtime.PodSandboxConfig
	}
	containerConfiger interface {
		GetConfig() *runtime.ContainerConfig
	}
	imageSpecer interface{ GetImage() *runtime.ImageSpec }
)

// callAttrs appends to attrs what a call is about, as far as its request
// (or response) says: "sandbox" and "container" IDs, "pod"
// (namespace/name) and "container_name" from the configs of calls that
// create them, "image" for image calls. Type assertions only: nothing is
// allocated for a call that names nothing.
func callAttrs(attrs []slog.Attr, req, resp any) []slog.Attr {
	pod, ctr := callIDs(req, resp)
	if pod != "" {
		attrs = append(attrs, slog.String("sandbox", pod))
	}
	if ctr != "" {
		attrs = append(attrs, slog.String("container", ctr))
	}
	var podCfg *runtime.PodSandboxConfig
	switch r := req.(type) {
	case podConfiger:
		podCfg = r.GetConfig()
	case sandboxConfiger:
		podCfg = r.GetSandboxConfig()
	}
	if m := podCfg.GetMetadata(); m != nil && pod == "" {
		attrs = append(attrs, slog.String("pod", m.GetNamespace()+"/"+m.GetName()))
	}
	if r, ok := req.(containerConfiger); ok && ctr == "" {
		if n := r.GetConfig().GetMetadata().GetName(); n != "" {
			attrs = append(attrs, slog.String("container_name", n))
		}
	}
	if r, ok := req.(imageSpecer); ok {
		if img := r.GetImage().GetImage(); img != "" {
			attrs = append(attrs, slog.String("image", img))
		}
	}
	return attrs
}
