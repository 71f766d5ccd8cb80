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
		{fmt.Errorf("containerd: %w", errdefs.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("registry: %w", errdefs.ErrUnauthenticated), codes.Unauthenticated},
		{fmt.Errorf("pull: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{fmt.Errorf("pull: %w", context.Canceled), codes.Canceled},
		// A cancelled containerd call carries both; the context wins.
		{fmt.Errorf("%w: %w", context.DeadlineExceeded, errdefs.ErrUnavailable), codes.DeadlineExceeded},
		{errors.New("plain"), codes.Unknown},
		{fmt.Errorf("wrapped: %w", status.Error(codes.ResourceExhausted, "peer")), codes.ResourceExhausted},
	} {
		got := toStatus(tc.err)
		if status.Code(got) != tc.code {
			t.Errorf("toStatus(%v) = %v, want %s", tc.err, status.Code(got), tc.code)
		}
		if status.Convert(got).Message() != tc.err.Error() {
			t.Errorf("message changed: %q", status.Convert(got).Message())
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
	v := invalid("field %s", "x")
	if toStatus(v) != v {
		t.Error("a status error must pass through unchanged")
	}
}
