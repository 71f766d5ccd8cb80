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
// failed call once (and, at debug level, every call with its duration).
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
	if err != nil {
		in.log.LogAttrs(ctx, slog.LevelError, "CRI call failed", slog.String("rpc", rpc),
			slog.String("code", status.Code(err).String()), slog.String("error", status.Convert(err).Message()),
			slog.Duration("duration", d))
		return
	}
	in.log.LogAttrs(ctx, slog.LevelDebug, "CRI call", slog.String("rpc", rpc), slog.Duration("duration", d))
}
