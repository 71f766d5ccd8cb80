package cri

import (
	"context"
	"errors"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// toStatus maps a domain error to a gRPC status error. Domain packages
// classify errors with containerd's errdefs (which containerd's client
// errors already carry); the message is kept as is.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return err // already a status (e.g. from validation)
	}
	return status.Error(codeOf(err), err.Error())
}

func codeOf(err error) codes.Code {
	switch {
	// Context errors first: a cancelled containerd call surfaces as both.
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errdefs.IsNotFound(err):
		return codes.NotFound
	case errdefs.IsInvalidArgument(err):
		return codes.InvalidArgument
	case errdefs.IsAlreadyExists(err):
		return codes.AlreadyExists
	case errdefs.IsFailedPrecondition(err), errdefs.IsConflict(err), errdefs.IsNotModified(err):
		return codes.FailedPrecondition
	case errdefs.IsUnavailable(err):
		return codes.Unavailable
	case errdefs.IsNotImplemented(err):
		return codes.Unimplemented
	case errdefs.IsPermissionDenied(err):
		return codes.PermissionDenied
	case errdefs.IsUnauthorized(err):
		return codes.Unauthenticated
	case errdefs.IsResourceExhausted(err):
		return codes.ResourceExhausted
	case errdefs.IsOutOfRange(err):
		return codes.OutOfRange
	case errdefs.IsAborted(err):
		return codes.Aborted
	case errdefs.IsDataLoss(err):
		return codes.DataLoss
	case errdefs.IsInternal(err):
		return codes.Internal
	}
	if s, ok := status.FromError(err); ok {
		return s.Code() // a wrapped status from a gRPC peer
	}
	return codes.Unknown
}

// invalid returns an InvalidArgument status naming the offending field.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
