package container

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
)

// start starts c and drains its Started event.
func (h *harness) start(t *testing.T, c *Container) {
	t.Helper()
	if err := h.m.Start(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.State != StateRunning || st.PID == 0 || st.StartedAt.IsZero() {
		t.Fatalf("started container: %+v", st)
	}
	h.published()
}

// exit ends c's process with status, as its shim would, and delivers the
// exit event.
func (h *harness) exit(c *Container, status uint32) {
	pid := h.exitQuietly(c, status)
	h.m.HandleExit(events.Exit{ContainerID: c.ID, PID: pid, Status: status, At: time.Now()})
}

// exitQuietly ends c's process with status and returns its PID; the
// event is lost (as while cricketd reconnects to containerd).
func (h *harness) exitQuietly(c *Container, status uint32) uint32 {
	h.ctrd.mu.Lock()
	defer h.ctrd.mu.Unlock()
	if task := h.ctrd.tasks[c.ID]; task != nil {
		if !task.exited {
			task.code = status
		}
		task.exitLocked()
		return task.pid
	}
	return 0
}

func waitExited(t *testing.T, c *Container) {
	t.Helper()
	select {
	case <-c.exitedChan():
	case <-time.After(10 * time.Second):
		t.Fatalf("container %s not exited: %+v", c.ID, c.Status())
	}
}

// removeAll removes c and checks that nothing is left of it.
func (h *harness) removeAll(t *testing.T, c *Container) {
	t.Helper()
	if err := h.m.Remove(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	h.await(t, events.Deleted)
	if left := h.left(c.Config.GetMetadata().GetName()); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

func TestStartStopRemove(t *testing.T) {
	h := newHarness(t)
	c := h.create(t, "app")
	h.start(t, c)
	if err := h.m.Start(context.Background(), c.ID); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("second Start = %v, want FailedPrecondition", err)
	}
	if err := h.m.Stop(context.Background(), c.ID, 10); err != nil {
		t.Fatal(err)
	}
	st := c.Status()
	if st.State != StateExited || st.ExitCode != 128+15 || st.Reason != ReasonError || st.FinishedAt.IsZero() {
		t.Errorf("stopped container: %+v", st)
	}
	if got := h.await(t, events.Stopped); !slices.Equal(got, []events.Kind{events.Stopped}) {
		t.Errorf("events %v, want Stopped", got)
	}
	if n := h.ctrd.count("kill"); n != 1 {
		t.Errorf("%d kills, want the stop signal alone", n)
	}
	h.removeAll(t, c)
}

// A start that fails is final: the container is exited with StartError,
// its task is gone, and it can be removed.
func TestFailedStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*harness)
	}{
		{"task creation", func(h *harness) { h.ctrd.fail["newTask"] = errInjected }},
		{"task start", func(h *harness) { h.ctrd.fail["taskStart"] = errInjected }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.create(t, "app")
			tc.set(h)
			if err := h.m.Start(context.Background(), c.ID); err == nil {
				t.Fatal("Start succeeded")
			}
			if st := c.Status(); st.State != StateExited || st.Reason != ReasonStartError || st.ExitCode != 128 {
				t.Errorf("status %+v", st)
			}
			if got := h.published(); !slices.Equal(got, []events.Kind{events.Stopped}) {
				t.Errorf("events %v, want Stopped", got)
			}
			h.removeAll(t, c)
		})
	}
}

// A task creation whose shim went away is tried once more.
func TestStartRetriedWhenTheShimWentAway(t *testing.T) {
	h := newHarness(t)
	c := h.create(t, "app")
	h.ctrd.failOnce["newTask"] = fmt.Errorf("shim exiting: %w", errdefs.ErrUnavailable)
	h.start(t, c)
	if n := h.ctrd.count("newTask"); n != 2 {
		t.Errorf("%d task creations, want 2", n)
	}
	h.removeAll(t, c)
}

// A container's exit is recorded once, with the first report's status,
// whatever order the reports come in.
func TestExitInAnyOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run starts c (or not) and delivers its exit.
		run        func(t *testing.T, h *harness, c *Container)
		code       int32
		reason     string
		notStarted bool
	}{
		{name: "exit", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			h.exit(c, 0)
		}, code: 0, reason: ReasonCompleted},
		{name: "exit twice", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			h.exit(c, 3)
			h.exit(c, 4)
			waitExited(t, c)
			h.exit(c, 5)
		}, code: 3, reason: ReasonError},
		{name: "exit and its task's deletion", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			h.exit(c, 2)
			h.m.HandleExit(events.Exit{ContainerID: c.ID, Status: 2, Deleted: true, At: time.Now()})
		}, code: 2, reason: ReasonError},
		{name: "deletion of a task whose exit was missed", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			h.m.HandleExit(events.Exit{ContainerID: c.ID, Status: 9, Deleted: true, At: time.Now()})
		}, code: 9, reason: ReasonError},
		{name: "exit before the start returned", run: func(t *testing.T, h *harness, c *Container) {
			h.ctrd.onStart = func(*fakeTask) error {
				h.exit(c, 0)
				waitExited(t, c)
				return nil
			}
			if err := h.m.Start(context.Background(), c.ID); err != nil {
				t.Fatal(err)
			}
		}, code: 0, reason: ReasonCompleted},
		{name: "exit and task deletion before the start returned", run: func(t *testing.T, h *harness, c *Container) {
			// containerd reads the task's state after starting it: a
			// command that ends at once is deleted by then.
			h.ctrd.onStart = func(*fakeTask) error {
				h.exit(c, 0)
				waitExited(t, c)
				return fmt.Errorf("task %s: %w", c.ID, errdefs.ErrNotFound)
			}
			if err := h.m.Start(context.Background(), c.ID); err != nil {
				t.Fatal(err)
			}
		}, code: 0, reason: ReasonCompleted},
		{name: "OOM, then exit", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			h.m.HandleOOM(c.ID)
			h.exit(c, 137)
		}, code: 137, reason: ReasonOOMKilled},
		{name: "exit of an earlier task, then its own", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			h.m.HandleExit(events.Exit{ContainerID: c.ID, PID: 1, Status: 1, At: time.Now()})
			h.m.HandleExit(events.Exit{ContainerID: c.ID, ExecID: "exec1", Status: 1, At: time.Now()})
			time.Sleep(10 * time.Millisecond)
			if st := c.Status(); st.State != StateRunning {
				t.Fatalf("another process's exit ended the container: %+v", st)
			}
			h.exit(c, 0)
		}, code: 0, reason: ReasonCompleted},
		{name: "exit racing a stop", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			var wg sync.WaitGroup
			wg.Go(func() { h.exit(c, 0) })
			wg.Go(func() {
				if err := h.m.Stop(context.Background(), c.ID, 10); err != nil {
					t.Error(err)
				}
			})
			wg.Wait()
		}, code: -1},
		{name: "missed exit, found by a resync", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			h.exitQuietly(c, 7)
			h.m.Resync(context.Background())
		}, code: 7, reason: ReasonError},
		{name: "resync racing the exit event", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			pid := h.exitQuietly(c, 7)
			var wg sync.WaitGroup
			wg.Go(func() { h.m.Resync(context.Background()) })
			wg.Go(func() { h.m.HandleExit(events.Exit{ContainerID: c.ID, PID: pid, Status: 7, At: time.Now()}) })
			wg.Wait()
		}, code: 7, reason: ReasonError},
		{name: "resync of a container whose task is gone", run: func(t *testing.T, h *harness, c *Container) {
			h.start(t, c)
			h.ctrd.mu.Lock()
			h.ctrd.deleteTaskLocked(c.ID)
			h.ctrd.mu.Unlock()
			h.m.Resync(context.Background())
		}, code: 255, reason: ReasonError},
		{name: "exit of a container never started", run: func(t *testing.T, h *harness, c *Container) {
			h.exit(c, 1)
		}, code: 1, reason: ReasonError, notStarted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.create(t, "app")
			tc.run(t, h, c)
			waitExited(t, c)
			st := c.Status()
			if st.State != StateExited || (tc.code >= 0 && (st.ExitCode != tc.code || st.Reason != tc.reason)) ||
				st.FinishedAt.IsZero() || st.StartedAt.IsZero() != tc.notStarted {
				t.Errorf("status %+v, want exited with %d (%s)", st, tc.code, tc.reason)
			}
			// Late reports change nothing.
			h.exit(c, 99)
			got := h.await(t, events.Stopped)
			if got = slices.DeleteFunc(got, func(k events.Kind) bool { return k == events.Started }); !slices.Equal(got, []events.Kind{events.Stopped}) {
				t.Errorf("events %v, want one Stopped", got)
			}
			if c.Status() != st {
				t.Errorf("a late exit changed the status: %+v", c.Status())
			}
			h.ctrd.mu.Lock()
			task := h.ctrd.tasks[c.ID]
			h.ctrd.mu.Unlock()
			if task != nil {
				t.Error("the exited task was not deleted")
			}
			h.removeAll(t, c)
			// After the removal, an exit finds nothing.
			h.exit(c, 1)
			if left := h.left("app"); len(left) > 0 {
				t.Errorf("left behind after a late exit: %q", left)
			}
		})
	}
}

// Starts and stops of one container racing each other: the stop either
// finds it created (nothing to do) or running (it ends it); the container
// is never left running by a stop that returned after the start.
func TestStartRacesStop(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		c := h.create(t, fmt.Sprintf("app%d", i))
		var wg sync.WaitGroup
		var startErr, stopErr error
		wg.Go(func() { startErr = h.m.Start(context.Background(), c.ID) })
		wg.Go(func() { stopErr = h.m.Stop(context.Background(), c.ID, 0) })
		wg.Wait()
		if startErr != nil || stopErr != nil {
			t.Fatalf("start: %v, stop: %v", startErr, stopErr)
		}
		switch st := c.Status(); st.State {
		case StateRunning: // the stop came first
		case StateExited:
			if st.StartedAt.IsZero() || st.ExitCode != 128+9 {
				t.Errorf("stopped container: %+v", st)
			}
		default:
			t.Fatalf("state %v", st.State)
		}
		h.removeAll(t, c)
	}
}

// Stops and removals of one running container racing each other all
// succeed; it exits once and is removed once.
func TestStopRacesRemove(t *testing.T) {
	h := newHarness(t)
	c := h.create(t, "app")
	h.start(t, c)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = h.m.Stop(context.Background(), c.ID, 0)
			} else {
				err = h.m.Remove(context.Background(), c.ID)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Both are out once the removal returned, the exit's first: a
	// Stopped after Deleted would bring a removed container back into
	// kubelet's evented PLEG cache.
	if got := h.published(); !slices.Equal(got, []events.Kind{events.Stopped, events.Deleted}) {
		t.Errorf("events %v, want [Stopped Deleted]", got)
	}
	if n := h.ctrd.count("kill"); n != 1 {
		t.Errorf("killed %d times, want once", n)
	}
	if left := h.left("app"); len(left) > 0 {
		t.Errorf("left behind: %q", left)
	}
}

// Stopping and removing a pod's containers together.
func TestStopAndRemovePod(t *testing.T) {
	h := newHarness(t)
	var cs []*Container
	for i := range 4 {
		c := h.create(t, fmt.Sprintf("app%d", i))
		if i%2 == 0 {
			h.start(t, c)
		}
		cs = append(cs, c)
	}
	if err := h.m.StopPod(context.Background(), "pod1"); err != nil {
		t.Fatal(err)
	}
	h.await(t, events.Stopped, events.Stopped)
	for i, c := range cs {
		if want := map[bool]State{true: StateExited, false: StateCreated}[i%2 == 0]; c.Status().State != want {
			t.Errorf("container %d: %v, want %v", i, c.Status().State, want)
		}
	}
	if err := h.m.RemovePod(context.Background(), "pod1"); err != nil {
		t.Fatal(err)
	}
	h.published()
	for _, c := range cs {
		if left := h.left(c.Config.GetMetadata().GetName()); len(left) > 0 {
			t.Errorf("left behind: %q", left)
		}
	}
}

// Resource updates of a container racing its exit and a stop: each is
// applied (stored, and live while the process runs), or refused with
// FailedPrecondition once the container exited, or NotFound when its
// task went in between; the status ends with a whole update.
func TestUpdateResourcesRacesExitAndStop(t *testing.T) {
	h := newHarness(t)
	for i := range 10 {
		c := h.create(t, fmt.Sprintf("app%d", i))
		h.start(t, c)
		var wg sync.WaitGroup
		for j := range 6 {
			wg.Go(func() {
				r := &runtime.LinuxContainerResources{CpuShares: int64(2 + j), MemoryLimitInBytes: int64(1<<20 + j)}
				err := h.m.UpdateResources(context.Background(), c.ID, r)
				if err != nil && !errdefs.IsFailedPrecondition(err) && !errdefs.IsNotFound(err) {
					t.Error(err)
				}
			})
		}
		wg.Go(func() { h.exit(c, 0) })
		wg.Go(func() {
			if err := h.m.Stop(context.Background(), c.ID, 0); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		waitExited(t, c)
		if r := c.Status().Resources; r != nil && r.GetMemoryLimitInBytes()-1<<20 != r.GetCpuShares()-2 {
			t.Errorf("resources mixed from two updates: %v", r)
		}
		if err := h.m.UpdateResources(context.Background(), c.ID, &runtime.LinuxContainerResources{CpuShares: 2}); !errdefs.IsFailedPrecondition(err) {
			t.Errorf("update of an exited container: %v, want FailedPrecondition", err)
		}
		h.removeAll(t, c)
	}
}

// A start racing the container's removal either starts it before the
// removal (which kills it) or finds it gone; nothing of it is left.
func TestStartRacesRemove(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		c := h.create(t, fmt.Sprintf("app%d", i))
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := h.m.Start(context.Background(), c.ID); err != nil && !errdefs.IsNotFound(err) {
				t.Errorf("Start = %v, want success or NotFound", err)
			}
		})
		wg.Go(func() {
			if err := h.m.Remove(context.Background(), c.ID); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		h.await(t, events.Deleted)
		if left := h.left(c.Config.GetMetadata().GetName()); len(left) > 0 {
			t.Fatalf("left behind: %q", left)
		}
	}
}

// A creation racing its pod's stop and removal either ends in a
// container that the pod's removal removes, or fails with
// FailedPrecondition and undoes itself: no container outlives its pod.
func TestCreateRacesPodRemoval(t *testing.T) {
	removePod := func(h *harness) {
		// As the sandbox manager's stop and removal do it.
		h.sb.StopForTest()
		if err := h.m.StopPod(context.Background(), "pod1"); err != nil {
			t.Error(err)
		}
		if err := h.m.RemovePod(context.Background(), "pod1"); err != nil {
			t.Error(err)
		}
	}
	t.Run("pod stopped before the container is listed", func(t *testing.T) {
		h := newHarness(t)
		held, release := make(chan struct{}), make(chan struct{})
		h.m.failAt = func(s string) error {
			if s == "container" {
				close(held)
				<-release
			}
			return nil
		}
		done := make(chan error, 1)
		go func() { _, err := h.m.Create(context.Background(), "pod1", ctrConfig("app")); done <- err }()
		<-held
		removePod(h)
		close(release)
		if err := <-done; !errdefs.IsFailedPrecondition(err) {
			t.Fatalf("Create = %v, want FailedPrecondition", err)
		}
		if left := h.left("app"); len(left) > 0 {
			t.Errorf("left behind: %q", left)
		}
	})
	t.Run("any order", func(t *testing.T) {
		for i := range 30 {
			h := newHarness(t)
			var wg sync.WaitGroup
			wg.Go(func() {
				if _, err := h.m.Create(context.Background(), "pod1", ctrConfig("app")); err != nil && !errdefs.IsFailedPrecondition(err) {
					t.Errorf("Create = %v", err)
				}
			})
			wg.Go(func() { removePod(h) })
			wg.Wait()
			h.published()
			if left := h.left("app"); len(left) > 0 {
				t.Fatalf("round %d: left behind: %q", i, left)
			}
		}
	})
}
