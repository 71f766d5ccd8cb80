package container

import (
	"context"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/internal/steps"
	"github.com/cricket-cri/cricket/internal/taskerr"
)

// outputDrainTimeout bounds waiting for a container's remaining output after
// its process exited (a background child may hold stdout open forever).
const outputDrainTimeout = 2 * time.Second

// HandleExit records the exit of a container's process.
func (m *Manager) HandleExit(e events.Exit) {
	if e.ExecID != "" && e.ExecID != e.ContainerID {
		return // exec processes are waited for by their callers
	}
	c, err := m.store.Get(e.ContainerID)
	if err != nil || c.ID != e.ContainerID {
		return
	}
	if e.PID != 0 && e.PID != c.Status().PID {
		// The task of a start tried twice (see Start): its shim went
		// away, and the container's task is another one now.
		return
	}
	if e.Deleted {
		// Nearly always cricket's own deletion after the exit it saw; it
		// matters only for a running container whose exit went unseen.
		c.mu.Lock()
		seen := c.finishing || c.status.State != StateRunning
		c.mu.Unlock()
		if seen {
			return
		}
		m.opts.Log.Warn("task of a running container was deleted; its exit was missed", "container", c.ID, "exit_code", e.Status)
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	// The exit is claimed here, in the order the reports come: a second
	// report (the task's deletion, a duplicate) that follows at once must
	// not win over it by being scheduled first.
	if !c.claimFinish() {
		return
	}
	// Off the event goroutine: deleting the task and draining output take
	// time, and other containers' events must not wait for it.
	go m.finishClaimed(c, int32(e.Status), at)
}

// claimFinish reports whether the caller is the first to record c's exit
// (see finish), and marks it claimed.
func (c *Container) claimFinish() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finishing {
		return false
	}
	c.finishing = true
	return true
}

// deleteExitedTask deletes the task of a container whose init process has
// exited; the shim then closes the output FIFOs.
func (m *Manager) deleteExitedTask(ctx context.Context, c *Container) {
	// Exec deletions still under way finish first: a process of a deleted
	// task could no longer be deleted cleanly.
	c.execCleanup.Lock()
	c.execCleanup.Unlock() // a barrier: nothing to guard
	var err error
	if cgroupEmpty(c.CgroupPath) {
		// Usually nothing but the init ran in the container's cgroup:
		// the task is deleted by ID, in one call (see deleteTask).
		err = m.deleteTask(ctx, c.ID)
	} else {
		// Processes outlived the init (a PID namespace shared with the
		// pod): they are killed first.
		var task client.Task
		if task, err = m.containerdTask(ctx, c); err == nil {
			err = m.killAndDeleteTask(ctx, task)
		}
	}
	if err != nil && !errdefs.IsNotFound(err) {
		m.opts.Log.Warn("delete exited task", "container", c.ID, "error", err)
		return
	}
	c.mu.Lock()
	c.task, c.noTask = nil, true
	c.mu.Unlock()
}

// killAndDeleteTask kills what still runs in a task and deletes it. A
// missing task is an errdefs NotFound error. When the shim connection
// closes under the kill or the deletion (another deletion of the task
// finished first, or the shim died), deleting by ID tells whether
// containerd still has the task.
func (m *Manager) killAndDeleteTask(ctx context.Context, task client.Task) error {
	_, err := task.Delete(ctx, client.WithProcessKill)
	if taskerr.Gone(err) && !errdefs.IsNotFound(err) {
		err = m.deleteTask(ctx, task.ID())
	}
	return err
}

// deleteTask deletes the exited task of containerd container id by ID
// (see ctrtask.Delete). A missing task is an errdefs NotFound error.
func (m *Manager) deleteTask(ctx context.Context, id string) error {
	return m.ctrd.deleteTask(ctx, id)
}

// cgroupEmpty reports whether the cgroup at path (cgroupfs, relative to the
// hierarchy) is known to hold no process. Exited processes are not listed;
// no new one can enter once the container's init has exited.
func cgroupEmpty(path string) bool {
	empty, err := cgroup.Empty(path)
	return err == nil && empty
}

// HandleOOM remembers that the kernel OOM-killed a process of the
// container; the exit that follows is reported as OOMKilled.
func (m *Manager) HandleOOM(containerID string) {
	c, err := m.store.Get(containerID)
	if err != nil || c.ID != containerID {
		return
	}
	// Written with the exit.
	c.update(checkpoint.Deferred, func(s *Status) bool { s.OOMKilled = true; return true })
}

// finish completes a container's exit: delete its task (the shim then
// closes the output FIFOs), drain the output into the log, then report it
// exited and wake StopContainer. An exit is recorded once: the first report
// of it (the exit event, or a state check that found the task stopped or
// gone) is the one kept, and later ones return at once; wait for
// c.exited.
func (m *Manager) finish(c *Container, status int32, at time.Time) {
	if c.claimFinish() {
		m.finishClaimed(c, status, at)
	}
}

// finishClaimed is finish once the caller claimed the exit.
func (m *Manager) finishClaimed(c *Container, status int32, at time.Time) {
	t := steps.Start("finish")
	defer t.Done(m.opts.Log, "container", c.ID)
	ctx, cancel := context.WithTimeout(m.ctx(context.Background()), time.Minute)
	defer cancel()
	// The OOM event and the exit event come separately, in no set order;
	// the kernel's count in the container's cgroup (gone once the task is
	// deleted) tells now.
	oomKilled := cgroupOOMKilled(c.CgroupPath)
	m.deleteExitedTask(ctx, c)
	t.Step("delete")
	c.mu.Lock()
	io := c.io
	c.mu.Unlock()
	if io != nil {
		if !io.wait(outputDrainTimeout) {
			m.opts.Log.Warn("container output still open after exit (a child holds it); closing", "container", c.ID)
		}
		io.close()
	}
	t.Step("drain")
	exited := false
	err := c.update(checkpoint.Happened, func(s *Status) bool {
		if s.State == StateExited {
			return false
		}
		exited = true
		s.State, s.ExitCode, s.FinishedAt = StateExited, status, at
		s.OOMKilled = s.OOMKilled || oomKilled
		switch {
		case s.OOMKilled:
			s.Reason = ReasonOOMKilled
		case status == 0:
			s.Reason = ReasonCompleted
		default:
			s.Reason = ReasonError
		}
		return true
	})
	if !exited {
		return
	}
	if err != nil {
		m.opts.Log.Error("checkpoint container", "container", c.ID, "error", err)
	}
	t.Step("checkpoint")
	m.opts.Log.Info("container exited", "container", c.ID, "exit_code", status, "reason", c.Status().Reason)
	m.nriExited(c)
}

// Resync checks running containers after events may have been missed.
func (m *Manager) Resync(ctx context.Context) {
	ctx = m.ctx(ctx)
	for _, c := range m.store.list("") {
		if c.Status().State != StateRunning {
			continue
		}
		code, at, exited := m.taskExit(ctx, c.ID)
		if exited && c.claimFinish() {
			go m.finishClaimed(c, code, at)
		}
	}
}

// taskExit reports whether a container's task has exited (or is gone) and
// how.
func (m *Manager) taskExit(ctx context.Context, id string) (int32, time.Time, bool) {
	ctr, err := m.ctrd.loadContainer(ctx, id)
	if err != nil {
		return 255, time.Now(), errdefs.IsNotFound(err)
	}
	_, st, err := loadTaskStatus(ctx, ctr)
	if taskerr.Gone(err) {
		return 255, time.Now(), true
	}
	if err != nil || st.Status != client.Stopped {
		return 0, time.Time{}, false
	}
	return int32(st.ExitStatus), st.ExitTime, true
}

// cgroupOOMKilled reports whether the kernel's OOM killer killed a process
// of the cgroup at path (cgroupfs, relative to the hierarchy): the oom_kill
// count of its memory controller.
func cgroupOOMKilled(path string) bool {
	if path == "" {
		return false
	}
	n, err := cgroup.OOMKills(path)
	return err == nil && n > 0
}
