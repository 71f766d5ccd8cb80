package daemon

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestGateSaysWhatRecoveryWaitsFor(t *testing.T) {
	g := newGate()
	err := g.Err()
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "reading checkpoints") {
		t.Fatalf("before any attempt failed: %v, want Unavailable naming the first attempt", err)
	}
	g.wait(errors.New("waiting for containerd: not serving yet"))
	if err := g.Err(); !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "waiting for containerd: not serving yet") {
		t.Fatalf("after containerd was down: %v", err)
	}
	g.wait(errors.New("restore sandbox 0123: disk full"))
	if err := g.Err(); strings.Contains(err.Error(), "containerd") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("after a step failed: %v, want only the step's error", err)
	}
	g.release()
	if err := g.Err(); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
