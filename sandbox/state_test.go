package sandbox

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
)

// runPod creates a pod on h and returns it.
func runPod(t *testing.T, h *harness, name string) *Sandbox {
	t.Helper()
	id, err := h.m.Run(context.Background(), podConfig(name), "")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := h.m.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	h.published() // Created, Started
	return sb
}

func count(kinds []events.Kind, k events.Kind) int {
	n := 0
	for _, x := range kinds {
		if x == k {
			n++
		}
	}
	return n
}

// Stops and removals of one pod racing each other all succeed, and the
// pod is stopped, torn down and removed once.
func TestStopRacesRemove(t *testing.T) {
	h := newHarness(t, false)
	sb := runPod(t, h, "web")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = h.m.Stop(context.Background(), sb.ID)
			} else {
				err = h.m.Remove(context.Background(), sb.ID)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := h.m.Remove(context.Background(), sb.ID); err != nil {
		t.Fatal(err)
	}
	got := h.published()
	if count(got, events.Stopped) != 1 || count(got, events.Deleted) != 1 {
		t.Errorf("events %v, want one Stopped and one Deleted", got)
	}
	h.ctl.mu.Lock()
	stops, deletes := count2(h.ctl.calls, "Stop"), count2(h.ctl.calls, "Delete")
	h.ctl.mu.Unlock()
	if stops != 1 || deletes != 1 {
		t.Errorf("holder stopped %d and deleted %d times, want once each", stops, deletes)
	}
	h.net.mu.Lock()
	detaches := count2(h.net.calls, "Detach")
	h.net.mu.Unlock()
	if detaches != 1 {
		t.Errorf("network detached %d times, want once", detaches)
	}
	if left := h.left(sb.Name()); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

func count2(calls []string, name string) int {
	return len(slices.DeleteFunc(slices.Clone(calls), func(c string) bool { return c != name }))
}

// A stop that failed half way is finished by the next one; a stop that
// finished is not run again.
func TestStopRetriedAfterFailure(t *testing.T) {
	h := newHarness(t, false)
	sb := runPod(t, h, "web")
	h.net.fail["Detach"] = errInjected
	if err := h.m.Stop(context.Background(), sb.ID); err == nil {
		t.Fatal("a stop whose detach failed succeeded")
	}
	if !sb.Status().NetAttached {
		t.Fatal("a failed detach shows as done")
	}
	delete(h.net.fail, "Detach")
	for range 2 {
		if err := h.m.Stop(context.Background(), sb.ID); err != nil {
			t.Fatal(err)
		}
	}
	h.net.mu.Lock()
	detaches := count2(h.net.calls, "Detach")
	h.net.mu.Unlock()
	if st := sb.Status(); st.NetAttached || st.State != StateNotReady || detaches != 2 {
		t.Errorf("after the retries: %+v, %d detaches (want 2)", st, detaches)
	}
	if got := h.published(); !slices.Equal(got, []events.Kind{events.Stopped}) {
		t.Errorf("events %v, want one Stopped", got)
	}
	var rec record
	if err := readCheckpoint(sb, &rec); err != nil || rec.NetAttached || rec.State != StateNotReady {
		t.Errorf("checkpoint %+v, %v", rec.Status, err)
	}
}

func readCheckpoint(sb *Sandbox, rec *record) error {
	b, err := os.ReadFile(sb.file.Path)
	if err != nil {
		return err
	}
	return jsonUnmarshal(b, rec)
}

// The pause process's exit is recorded once, whatever order it comes in:
// alone, twice, during a stop, racing a stop, or after the removal.
func TestPauseExitInAnyOrder(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	exit := func(sb *Sandbox) events.Exit { return events.Exit{ContainerID: sb.ID, Status: 137, At: at} }
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, h *harness, sb *Sandbox)
		// lateTime: the exit may come after the stop finished, and then
		// its time stays in memory only (HandleExit defers its write to
		// a stop that is over). noTime: a resync finds the exit without
		// its time. Nothing reads the time back.
		lateTime, noTime bool
	}{
		{"exit", func(t *testing.T, h *harness, sb *Sandbox) {
			h.m.HandleExit(exit(sb))
		}, false, false},
		{"exit twice", func(t *testing.T, h *harness, sb *Sandbox) {
			h.m.HandleExit(exit(sb))
			h.m.HandleExit(exit(sb))
		}, false, false},
		{"exit during the stop", func(t *testing.T, h *harness, sb *Sandbox) {
			h.ctl.onStop = func(sb *Sandbox) {
				// The stop writes the checkpoint when it is done: the
				// exit writes nothing (a write replaces the file).
				before, err := os.Stat(sb.file.Path)
				if err != nil {
					t.Fatal(err)
				}
				h.m.HandleExit(exit(sb))
				if after, err := os.Stat(sb.file.Path); err != nil || !os.SameFile(before, after) {
					t.Errorf("the exit of a stopping pod wrote its checkpoint (%v)", err)
				}
			}
			if err := h.m.Stop(context.Background(), sb.ID); err != nil {
				t.Fatal(err)
			}
		}, false, false},
		{"exit then stop", func(t *testing.T, h *harness, sb *Sandbox) {
			h.m.HandleExit(exit(sb))
			if err := h.m.Stop(context.Background(), sb.ID); err != nil {
				t.Fatal(err)
			}
		}, false, false},
		{"exit racing the stop", func(t *testing.T, h *harness, sb *Sandbox) {
			var wg sync.WaitGroup
			wg.Go(func() { h.m.HandleExit(exit(sb)) })
			wg.Go(func() {
				if err := h.m.Stop(context.Background(), sb.ID); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
		}, true, false},
		{"missed exit, found by a resync", func(t *testing.T, h *harness, sb *Sandbox) {
			h.ctl.mu.Lock()
			delete(h.ctl.running, sb.ID)
			h.ctl.mu.Unlock()
			h.m.Resync(context.Background())
		}, false, true},
		{"exec exit, then the pause's", func(t *testing.T, h *harness, sb *Sandbox) {
			h.m.HandleExit(events.Exit{ContainerID: sb.ID, ExecID: "exec1", Status: 1, At: at})
			if sb.Status().State != StateReady {
				t.Fatal("an exec's exit made the sandbox not ready")
			}
			h.m.HandleExit(exit(sb))
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, false)
			sb := runPod(t, h, "web")
			tc.run(t, h, sb)
			if got := h.published(); !slices.Equal(got, []events.Kind{events.Stopped}) {
				t.Errorf("events %v, want one Stopped", got)
			}
			st := sb.Status()
			if st.State != StateNotReady || (!tc.noTime && !st.ExitedAt.Equal(at)) {
				t.Errorf("status %+v, want not ready, exited at %v", st, at)
			}
			// What the checkpoint says now or once the stop writes it.
			if err := h.m.Stop(context.Background(), sb.ID); err != nil {
				t.Fatal(err)
			}
			var rec record
			if err := readCheckpoint(sb, &rec); err != nil || rec.State != StateNotReady || (!tc.lateTime && !tc.noTime && !rec.ExitedAt.Equal(at)) {
				t.Errorf("checkpoint %+v, %v", rec.Status, err)
			}
			// After the removal, a late exit finds nothing, and writes no
			// checkpoint back.
			if err := h.m.Remove(context.Background(), sb.ID); err != nil {
				t.Fatal(err)
			}
			h.published()
			h.m.HandleExit(exit(sb))
			if left := h.left(sb.Name()); len(left) > 0 {
				t.Errorf("left behind: %q", left)
			}
		})
	}
}

// Resource updates racing a stop, the pause's exit and the removal: each
// update is recorded whole or refused as NotFound once the pod is gone,
// and no update writes a checkpoint back after the removal.
func TestUpdateResourcesRacesStopAndRemove(t *testing.T) {
	h := newHarness(t, false)
	for i := range 10 {
		sb := runPod(t, h, fmt.Sprintf("web%d", i))
		var wg sync.WaitGroup
		for j := range 6 {
			wg.Go(func() {
				r := &runtime.LinuxContainerResources{CpuShares: int64(2 + j)}
				if err := h.m.UpdateResources(context.Background(), sb.ID, r, r); err != nil && !errdefs.IsNotFound(err) {
					t.Error(err)
				}
			})
		}
		wg.Go(func() { h.m.HandleExit(events.Exit{ContainerID: sb.ID, Status: 137, At: time.Now()}) })
		wg.Go(func() {
			if err := h.m.Stop(context.Background(), sb.ID); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := h.m.Remove(context.Background(), sb.ID); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		h.published()
		if left := h.left(sb.Name()); len(left) > 0 {
			t.Fatalf("left behind: %q", left)
		}
	}
}

// Updates alone: the checkpoint ends with one of them, whole, and the
// status with the same one.
func TestConcurrentResourceUpdates(t *testing.T) {
	h := newHarness(t, false)
	sb := runPod(t, h, "web")
	var wg sync.WaitGroup
	for j := range 10 {
		wg.Go(func() {
			o := &runtime.LinuxContainerResources{CpuShares: int64(100 + j)}
			r := &runtime.LinuxContainerResources{CpuShares: int64(200 + j)}
			if err := h.m.UpdateResources(context.Background(), sb.ID, o, r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	o, r := sb.Resources()
	if r.GetCpuShares()-o.GetCpuShares() != 100 {
		t.Fatalf("overhead %d and resources %d come from different updates", o.GetCpuShares(), r.GetCpuShares())
	}
	back := readRecord(t, sb.file.Path)
	if bo, br := back.Resources(); bo.GetCpuShares() != o.GetCpuShares() || br.GetCpuShares() != r.GetCpuShares() {
		t.Fatalf("checkpoint has %d/%d, memory %d/%d", bo.GetCpuShares(), br.GetCpuShares(), o.GetCpuShares(), r.GetCpuShares())
	}
}
