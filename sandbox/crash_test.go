package sandbox

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cricket-cri/cricket/internal/checkpoint"
)

// A cricketd that dies after any step of a creation leaves a checkpoint
// that says so, or nothing at all: start-up's rollback removes whatever
// the steps before made. (The creation is held at the step rather than
// killed; its own undo, once let go, must then find nothing to do.)
func TestRollbackAfterCrashAtEachStep(t *testing.T) {
	ctx := context.Background()
	for _, k := range podKinds() {
		for _, step := range k.steps {
			t.Run(k.name+"/after "+step, func(t *testing.T) {
				h := newHarness(t, k.pinned)
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
				go func() { _, err := h.m.Run(ctx, k.config(), ""); done <- err }()
				<-crashed
				// An attach started with the holder's creation finishes
				// (a crash would have cut it off; its address is recorded
				// by the CNI plugin, and its DEL releases it).
				time.Sleep(20 * time.Millisecond)
				for i := 0; i < 500 && h.attaching(); i++ {
					time.Sleep(time.Millisecond)
				}

				// Start-up: a new Manager on the same state, network and
				// containerd rolls back what the checkpoints show.
				m := New(nil, nil, nil, h.m.opts)
				m.network, m.images, m.pause, m.pinned = h.net, h.images, h.ctl, h.ctl
				recs, err := checkpoint.ReadDir[record](filepath.Join(m.opts.Root, "sandboxes"), func(p string, err error) {
					t.Errorf("checkpoint %s: %v", p, err)
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, rec := range recs {
					sb, err := rec.Value.sandbox(rec.Path)
					if err != nil {
						t.Fatal(err)
					}
					if !sb.Status().Creating {
						t.Fatalf("a creation cut off after %s is checkpointed as finished", step)
					}
					m.rollback(ctx, sb)
				}
				if left := h.leftOutside(); len(left) > 0 {
					t.Errorf("left behind after the rollback: %q", left)
				}

				close(release)
				if err := <-done; !errors.Is(err, errInjected) {
					t.Fatalf("Run = %v", err)
				}
				if left := h.left(nameKey(k.config().GetMetadata())); len(left) > 0 {
					t.Errorf("left behind: %q", left)
				}
			})
		}
	}
}

func (h *harness) attaching() bool {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	return h.net.attaching > 0
}
