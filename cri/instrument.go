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
		in.done(ctx, info.FullMethod, start, err)
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
		in.done(ss.Context(), info.FullMethod, start, err)
	}()
	return handler(srv, ss)
}

func (in *instrument) panicked(method string, r any) error {
	in.log.Error("panic in CRI call", "rpc", path.Base(method), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "%s: internal error: %v", path.Base(method), r)
}

func (in *instrument) done(ctx context.Context, method string, start time.Time, err error) {
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
	attrs = append(attrs, slog.Duration("duration", d))
	if a, ok := traceAttr(ctx); ok {
		attrs = append(attrs, a)
	}
	in.log.LogAttrs(ctx, level, msg, attrs...)
}
