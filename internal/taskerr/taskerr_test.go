package taskerr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestGone(t *testing.T) {
	// What containerd 1.6 returns for a kill on a task whose shim
	// connection it closed, as containerd's client hands it on (errgrpc's
	// ToNative of an Unknown status).
	closed := fmt.Errorf("ttrpc: closed: %w", errdefs.ErrUnknown)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"client's ttrpc: closed", fmt.Errorf("kill: %w", closed), true},
		{"raw status ttrpc: closed", status.Error(codes.Unknown, "ttrpc: closed"), true},
		{"direct shim client", fmt.Errorf("kill: %w", ttrpc.ErrClosed), true},
		{"task not found", fmt.Errorf("no task: %w", errdefs.ErrNotFound), true},
		{"process already finished", fmt.Errorf("process already finished: %w", errdefs.ErrNotFound), true},
		{"raw NotFound", status.Error(codes.NotFound, "container not created"), true},
		{"other unknown", fmt.Errorf("runc did not terminate successfully: %w", errdefs.ErrUnknown), false},
		{"precondition naming ttrpc", fmt.Errorf("ttrpc: closed: %w", errdefs.ErrFailedPrecondition), false},
		{"deadline", context.DeadlineExceeded, false},
	} {
		if got := Gone(tc.err); got != tc.want {
			t.Errorf("%s: Gone(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	unknown := fmt.Errorf("runc did not terminate successfully: %w", errdefs.ErrUnknown)
	if err := Classify(unknown); !errdefs.IsUnavailable(err) || !errors.Is(err, unknown) {
		t.Errorf("Classify(unknown) = %v: want Unavailable, wrapping the cause", err)
	}
	if err := Classify(status.Error(codes.Unknown, "boom")); !errdefs.IsUnavailable(err) {
		t.Errorf("Classify(raw Unknown status) = %v: want Unavailable", err)
	}
	precond := fmt.Errorf("x: %w", errdefs.ErrFailedPrecondition)
	if err := Classify(precond); err != precond {
		t.Errorf("Classify changed a classified error: %v", err)
	}
	if Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}

func TestCreate(t *testing.T) {
	// containerd 1.6's error for a runtime type whose shim it cannot find,
	// as containerd's client hands it on.
	missing := fmt.Errorf(`failed to start shim: failed to resolve runtime path: runtime "io.containerd.cricket.v1" binary not installed "containerd-shim-cricket-v1": file does not exist: %w`, errdefs.ErrUnknown)
	if err := Create(missing); !errdefs.IsFailedPrecondition(err) || !errors.Is(err, missing) {
		t.Errorf("Create(missing shim) = %v: want FailedPrecondition, wrapping the cause", err)
	}
	other := fmt.Errorf("runc create failed: %w", errdefs.ErrUnknown)
	if err := Create(other); err != other {
		t.Errorf("Create changed another error: %v", err)
	}
	if Create(nil) != nil {
		t.Error("Create(nil) != nil")
	}
}
