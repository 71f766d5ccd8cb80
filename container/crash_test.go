package container

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cricket-cri/cricket/internal/checkpoint"
)

// A cricketd that dies after any step of a container's creation leaves a
// checkpoint that says so, or nothing at all: start-up discards whatever
// the steps before made. (The creation is held at the step rather than
// killed; its own undo, once let go, must then find nothing to do. The
// lease a crash leaves is start-up's to delete, with what it protects.)
func TestDiscardAfterCrashAtEachStep(t *testing.T) {
	ctx := context.Background()
	for _, step := range createSteps {
		t.Run("after "+step, func(t *testing.T) {
			h := newHarness(t)
			crashed, release := make(chan struct{}), make(chan struct{})
			h.m.failAt = func(s string) error {
				if s != step {
					return nil
				}
				close(crashed)
				<-release
				return errInjected
			}
			done := make(chan error, 1)
			go func() { _, err := h.m.Create(ctx, "pod1", ctrConfig("app")); done <- err }()
			<-crashed

			// Start-up: a new Manager on the same state and containerd.
			m := &Manager{opts: h.m.opts, ctrd: h.ctrd, images: fakeImages{}, sandboxes: h.pods, store: newStore(),
				recoverySem: make(chan struct{}, recoveryFinishers)}
			recs, err := checkpoint.ReadDir[record](filepath.Join(m.opts.Root, "containers"), func(p string, err error) {
				t.Errorf("checkpoint %s: %v", p, err)
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range recs {
				c, err := rec.Value.container(rec.Path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !c.Status().Creating {
					t.Fatalf("a creation cut off after %s is checkpointed as finished", step)
				}
				m.discard(ctx, c)
			}
			if left := h.leftOutside(); len(left) > 0 {
				t.Errorf("left behind after the discard: %q", left)
			}

			close(release)
			if err := <-done; !errors.Is(err, errInjected) {
				t.Fatalf("Create = %v", err)
			}
			if left := h.left("app"); len(left) > 0 {
				t.Errorf("left behind: %q", left)
			}
		})
	}
}
