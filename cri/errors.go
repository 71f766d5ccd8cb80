package cri

import (
	"context"
	"errors"

	"github.com/containerd/errdefs"
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
	// errgrpc keeps an error whose chain holds a gRPC status as it is,
	// code and all, and takes the first class it meets: containerd's
	// error (Unknown more often than not) wrapped with a class of ours
	// would reach kubelet with containerd's code. A known class anywhere
	// in the chain decides first.
	if class := knownClass(err); class != errdefs.ErrUnknown {
		return errgrpc.ToGRPC(classified{msg: err.Error(), class: class})
	}
	return errgrpc.ToGRPC(err)
}

// knownClass is the first errdefs class in err's chain other than
// ErrUnknown, or ErrUnknown.
func knownClass(err error) error {
	if class := errdefs.Resolve(err); class != errdefs.ErrUnknown {
		return class
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, ue := range e.Unwrap() {
			if class := knownClass(ue); class != errdefs.ErrUnknown {
				return class
			}
		}
	case interface{ Unwrap() error }:
		if ue := e.Unwrap(); ue != nil {
			return knownClass(ue)
		}
	}
	return errdefs.ErrUnknown
}

// classified is an error's message with only its class in its chain, for
// errgrpc to map by class.
type classified struct {
	msg   string
	class error
}

func (c classified) Error() string { return c.msg }
func (c classified) Unwrap() error { return c.class }

// invalid returns an InvalidArgument status naming the offending field.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}
