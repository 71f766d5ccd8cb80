package cri

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatusMapsDomainErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("image %q: %w", "x", errdefs.ErrNotFound), codes.NotFound},
		{fmt.Errorf("bad: %w", errdefs.ErrInvalidArgument), codes.InvalidArgument},
		{fmt.Errorf("name reserved: %w", errdefs.ErrAlreadyExists), codes.AlreadyExists},
		{fmt.Errorf("not running: %w", errdefs.ErrFailedPrecondition), codes.FailedPrecondition},
		{fmt.Errorf("busy: %w", errdefs.ErrConflict), codes.FailedPrecondition},
		{fmt.Errorf("same: %w", errdefs.ErrNotModified), codes.FailedPrecondition},
		{fmt.Errorf("containerd: %w", errdefs.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("checkpoint: %w", errdefs.ErrNotImplemented), codes.Unimplemented},
		{fmt.Errorf("open: %w", errdefs.ErrPermissionDenied), codes.PermissionDenied},
		{fmt.Errorf("registry: %w", errdefs.ErrUnauthenticated), codes.Unauthenticated},
		{fmt.Errorf("list budget: %w", errdefs.ErrResourceExhausted), codes.ResourceExhausted},
		{fmt.Errorf("range: %w", errdefs.ErrOutOfRange), codes.OutOfRange},
		{fmt.Errorf("aborted: %w", errdefs.ErrAborted), codes.Aborted},
		{fmt.Errorf("lost: %w", errdefs.ErrDataLoss), codes.DataLoss},
		{fmt.Errorf("bug: %w", errdefs.ErrInternal), codes.Internal},
		{fmt.Errorf("pull: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{fmt.Errorf("pull: %w", context.Canceled), codes.Canceled},
		// A cancelled containerd call carries both; the context wins,
		// whichever comes first in the chain.
		{fmt.Errorf("%w: %w", context.DeadlineExceeded, errdefs.ErrUnavailable), codes.DeadlineExceeded},
		{fmt.Errorf("%w: %w", errdefs.ErrUnavailable, context.DeadlineExceeded), codes.DeadlineExceeded},
		{fmt.Errorf("stop: %w", errors.Join(errdefs.ErrNotFound, context.Canceled)), codes.Canceled},
		// Joined errors take the first class.
		{errors.Join(fmt.Errorf("a: %w", errdefs.ErrNotFound), fmt.Errorf("b: %w", errdefs.ErrInternal)), codes.NotFound},
		{errors.New("plain"), codes.Unknown},
		{fmt.Errorf("wrapped: %w", status.Error(codes.ResourceExhausted, "peer")), codes.ResourceExhausted},
		// containerd's own error (Unknown) wrapped with a class of ours:
		// the class decides (a missing shim binary is FailedPrecondition).
		{fmt.Errorf("%w: install the shim (%w)", status.Error(codes.Unknown, "failed to start shim"), errdefs.ErrFailedPrecondition), codes.FailedPrecondition},
		{fmt.Errorf("task: %w", errors.Join(status.Error(codes.Unknown, "peer"), errdefs.ErrNotFound)), codes.NotFound},
		{fmt.Errorf("create: %w", fmt.Errorf("%w: install (%w)", fmt.Errorf("shim: %w", errdefs.ErrUnknown), errdefs.ErrFailedPrecondition)), codes.FailedPrecondition},
	} {
		got := toStatus(tc.err)
		if status.Code(got) != tc.code {
			t.Errorf("toStatus(%v) = %v, want %s", tc.err, status.Code(got), tc.code)
		}
		// The message names the object and the cause, unchanged.
		if status.Convert(got).Message() != tc.err.Error() {
			t.Errorf("message changed: %q, want %q", status.Convert(got).Message(), tc.err.Error())
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
	v := invalid("field %s", "x")
	if toStatus(v) != v {
		t.Error("a status error must pass through unchanged")
	}
	// A status (a peer's, or validation's) passes through.
	peer := status.Error(codes.NotFound, "container c1 not found")
	if got := toStatus(peer); got != peer {
		t.Errorf("toStatus(status) = %v", got)
	}
}
