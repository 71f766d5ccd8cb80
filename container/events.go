package container

import (
	"context"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/events"
)

// outputDrainTimeout bounds waiting for a container's remaining output after
// its process exited (a background child may hold stdout open forever).
const outputDrainTimeout = 2 * time.Second

// HandleExit records the exit of a container's process.
func (m *Manager) HandleExit(e events.Exit) {
	if e.ExecID != "" && e.ExecID != e.ContainerID {
		return // exec processes are waited for by their callers
	}
	c, err := m.store.get(e.ContainerID)
	if err != nil || c.ID != e.ContainerID {
		return
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	// Off the event goroutine: deleting the task and draining output take
	// time, and other containers' events must not wait for it.
	go m.finish(c, int32(e.Status), at)
}

// HandleOOM remembers that the kernel OOM-killed a process of the
// container; the exit that follows is reported as OOMKilled.
func (m *Manager) HandleOOM(containerID string) {
	c, err := m.store.get(containerID)
	if err != nil || c.ID != containerID {
		return
	}
	c.mu.Lock()
	c.oomKilled = true
	c.mu.Unlock()
}

// finish completes a container's exit: delete its task (the shim then
// closes the output FIFOs), drain the output into the log, then report it
// exited and wake StopContainer.
func (m *Manager) finish(c *Container, status int32, at time.Time) {
	ctx, cancel := context.WithTimeout(m.ctx(context.Background()), time.Minute)
	defer cancel()
	if ctr, err := m.client.LoadContainer(ctx, c.ID); err == nil {
		if task, err := ctr.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				m.opts.Log.Warn("delete exited task", "container", c.ID, "error", err)
			}
		}
	}
	c.mu.Lock()
	io := c.io
	c.mu.Unlock()
	if io != nil {
		if !io.wait(outputDrainTimeout) {
			m.opts.Log.Warn("container output still open after exit (a child holds it); closing", "container", c.ID)
		}
		io.close()
	}
	c.mu.Lock()
	if c.state == StateExited {
		c.mu.Unlock()
		return
	}
	c.state, c.exitCode, c.finishedAt = StateExited, status, at
	switch {
	case c.oomKilled:
		c.reason = ReasonOOMKilled
	case status == 0:
		c.reason = ReasonCompleted
	default:
		c.reason = ReasonError
	}
	close(c.exited)
	c.mu.Unlock()
	if err := m.persist(c, false); err != nil {
		m.opts.Log.Error("checkpoint container", "container", c.ID, "error", err)
	}
	m.opts.Events.Publish(events.Lifecycle{ID: c.ID, SandboxID: c.SandboxID, Kind: events.Stopped, At: at, Object: c})
	m.opts.Log.Info("container exited", "container", c.ID, "exit_code", status, "reason", c.Status().Reason)
}

// Resync checks running containers after events may have been missed.
func (m *Manager) Resync(ctx context.Context) {
	ctx = m.ctx(ctx)
	for _, c := range m.store.list("") {
		if c.Status().State != StateRunning {
			continue
		}
		code, at, exited := m.taskExit(ctx, c.ID)
		if exited {
			go m.finish(c, code, at)
		}
	}
}

// taskExit reports whether a container's task has exited (or is gone) and
// how.
func (m *Manager) taskExit(ctx context.Context, id string) (int32, time.Time, bool) {
	ctr, err := m.client.LoadContainer(ctx, id)
	if err != nil {
		return 255, time.Now(), errdefs.IsNotFound(err)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return 255, time.Now(), true
	}
	if err != nil {
		return 0, time.Time{}, false
	}
	st, err := task.Status(ctx)
	if err != nil || st.Status != client.Stopped {
		return 0, time.Time{}, false
	}
	return int32(st.ExitStatus), st.ExitTime, true
}
