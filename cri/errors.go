package cri

import (
	"context"
	"errors"

	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// toStatus maps a domain error to a gRPC status error. Domain packages
// classify errors with containerd's errdefs (which containerd's client
// errors already carry), and errgrpc maps those classes to codes as
// containerd's own services do; the message, which names the object and
// the cause, is kept as is. A status error (from validation, or a gRPC
// peer's, wrapped or not) keeps its code.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err // already a status (e.g. from validation)
	}
	// Context errors first: a containerd call cut short by the caller's
	// deadline carries both the context's error and a class such as
	// Unavailable, and errgrpc takes the first class it meets in the chain.
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	return errgrpc.ToGRPC(err)
}

// invalid returns an InvalidArgument status naming the offending field.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
