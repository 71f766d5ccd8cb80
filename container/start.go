package container

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/crilog"
	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/internal/steps"
	"github.com/cricket-cri/cricket/internal/taskerr"
)

// Start starts a created container: its task joins the pod's shim, and its
// output goes to the CRI log file, which exists when Start returns. NRI
// plugins are told once the container runs, or that it stopped if its
// start failed.
func (m *Manager) Start(ctx context.Context, id string) error {
	c, err := m.store.Get(id)
	if err != nil {
		return err
	}
	ctx = m.ctx(ctx)
	failed, err := m.startLocked(ctx, c)
	switch {
	case err == nil:
		m.nriStarted(ctx, c)
	case failed:
		m.nriStopped(ctx, c)
	}
	return err
}

// startLocked starts c under its lock; failed reports a start that failed
// for good (the container is exited with StartError).
func (m *Manager) startLocked(ctx context.Context, c *Container) (failed bool, _ error) {
	c.op.Lock()
	defer c.op.Unlock()
	if _, err := m.store.Get(c.ID); errdefs.IsNotFound(err) {
		// Removed while this call waited for the lock: starting it would
		// make its directory (the FIFOs) again, which nothing removes.
		return false, fmt.Errorf("container %s was removed: %w", c.ID, errdefs.ErrNotFound)
	}
	if st := c.Status(); st.State != StateCreated {
		return false, fmt.Errorf("container %s is %s; only a created container can be started: %w", c.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	sb, err := m.sandboxes.Get(c.SandboxID)
	if err != nil {
		return false, fmt.Errorf("sandbox of container %s: %w", c.ID, err)
	}
	if err := acceptsContainers(sb); err != nil {
		return false, fmt.Errorf("start container %s: %w", c.ID, err)
	}
	err = m.start(ctx, c)
	if shimWentAway(err) && ctx.Err() == nil {
		// The pod's shim exited under the start: it hosted no task any
		// more (a pinned pod whose last container was just removed) and
		// containerd handed this task to it as it went. What the first
		// try left is undone; containerd spawns a new shim for the
		// second.
		m.opts.Log.Warn("the pod's shim went away during the container's start; starting it once more", "container", c.ID, "error", err)
		// Its exit, when containerd reports it, is no longer this
		// container's (HandleExit matches the pid).
		c.mu.Lock()
		c.task = nil
		c.mu.Unlock()
		c.update(checkpoint.Deferred, func(s *Status) bool { s.PID = 0; return true })
		if derr := m.deleteTask(context.WithoutCancel(ctx), c.ID); derr != nil && !errdefs.IsNotFound(derr) {
			m.opts.Log.Warn("delete the task of the first try", "container", c.ID, "error", derr)
		}
		err = m.start(ctx, c)
	}
	if err != nil {
		// A start that failed is final: the container is exited with the
		// reason, as kubelet expects.
		perr := c.update(checkpoint.Happened, func(s *Status) bool {
			if s.State != StateCreated {
				return false
			}
			s.State, s.ExitCode, s.Reason, s.Message = StateExited, 128, ReasonStartError, err.Error()
			s.FinishedAt = time.Now()
			failed = true
			return true
		})
		if perr != nil {
			m.opts.Log.Error("checkpoint container", "container", c.ID, "error", perr)
		}
		return failed, err
	}
	return false, nil
}

// copyToLog starts copying a container's output into its CRI log file
// (or discarding it when the container has none).
func (m *Manager) copyToLog(c *Container, io *stdio) error {
	var log *crilog.File
	if c.LogPath != "" {
		var err error
		if log, err = crilog.Open(c.LogDir, c.Config.GetLogPath(), m.opts.MaxLogLineSize); err != nil {
			return err
		}
	}
	io.copy(log)
	return nil
}

// shimWentAway tells the errors of a task creation whose shim exited
// meanwhile (or refused the task because it was exiting). A task that was
// created is not tried again: its start's errors are its own (a NotFound
// there may be a command that already ran and exited).
func shimWentAway(err error) bool {
	var ce createError
	return errors.As(err, &ce) && (taskerr.Gone(err) || errdefs.IsUnavailable(err))
}

// createError is a failed task creation (see shimWentAway).
type createError struct{ error }

func (e createError) Unwrap() error { return e.error }

// exitSeen reports whether the container's exit is recorded within
// wait (its exit handling deletes the task, then drains the output).
func (c *Container) exitSeen(ctx context.Context, wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

func (m *Manager) start(ctx context.Context, c *Container) (retErr error) {
	t := steps.Start("StartContainer")
	defer t.Done(m.opts.Log, "container", c.ID)
	ctr, err := m.containerd(ctx, c)
	if err != nil {
		return fmt.Errorf("load container %s: %w", c.ID, err)
	}
	t.Step("load")
	io, err := openStdio(filepath.Join(c.Dir, "io"), c.Config.GetTty(), c.Config.GetStdin())
	if err != nil {
		return fmt.Errorf("container %s stdio: %w", c.ID, err)
	}
	defer func() {
		if retErr != nil {
			io.close()
		}
	}()
	if err := m.copyToLog(c, io); err != nil {
		return fmt.Errorf("container %s log: %w", c.ID, err)
	}
	t.Step("stdio")
	c.mu.Lock()
	c.noTask = false // even a failed creation may leave one behind
	snapshotter, rootfs := c.snapshotter, c.rootfs
	c.mu.Unlock()
	var task client.Task
	if snapshotter != "" {
		task, err = m.ctrd.newTask(ctx, ctr, snapshotter, rootfs, taskIO{io.config()})
	} else {
		// Created before a restart of cricketd: the container's record
		// says where its rootfs is.
		task, err = ctr.NewTask(ctx, io.creator())
	}
	if err != nil {
		return createError{fmt.Errorf("create task of container %s: %w", c.ID, taskerr.Create(err))}
	}
	t.Step("task")
	io.closeRemote = func() {
		if err := task.CloseIO(context.Background(), client.WithStdinCloser); err != nil && !taskerr.Gone(err) {
			m.opts.Log.Warn("close container stdin", "container", c.ID, "error", err)
		}
	}
	c.mu.Lock()
	c.io, c.task = io, task
	c.mu.Unlock()
	c.update(checkpoint.Deferred, func(s *Status) bool { s.PID = task.Pid(); return true })
	// NRI plugins see the container's process before its command runs.
	if err := m.nriStart(ctx, c); err != nil {
		m.discardTask(ctx, c, task)
		return fmt.Errorf("start container %s: %w", c.ID, err)
	}
	started := time.Now()
	if err := task.Start(ctx); err != nil {
		if errdefs.IsNotFound(err) && c.exitSeen(ctx, outputDrainTimeout+time.Second) {
			// It did start: containerd reads the task's state after
			// starting it, and a command that ends at once had its exit
			// handled and its task deleted in between.
			if perr := c.update(checkpoint.Happened, func(s *Status) bool { s.StartedAt = started; return true }); perr != nil {
				m.opts.Log.Error("checkpoint container", "container", c.ID, "error", perr)
			}
			m.opts.Log.Info("container started and already exited", "container", c.ID, "pid", task.Pid())
			return nil
		}
		m.discardTask(ctx, c, task)
		return fmt.Errorf("start container %s: %w", c.ID, err)
	}
	t.Step("start")
	if err := c.update(checkpoint.Happened, func(s *Status) bool {
		if s.State == StateCreated {
			s.State = StateRunning
		}
		// Set even when a fast process already exited: it did start.
		s.StartedAt = started
		return true
	}); err != nil {
		m.opts.Log.Error("checkpoint container", "container", c.ID, "error", err)
	}
	t.Step("checkpoint")
	m.opts.Log.Info("container started", "container", c.ID, "pid", task.Pid())
	return nil
}

// discardTask deletes the task of a start that failed.
func (m *Manager) discardTask(ctx context.Context, c *Container, task client.Task) {
	if err := m.killAndDeleteTask(context.WithoutCancel(ctx), task); err != nil && !errdefs.IsNotFound(err) {
		m.opts.Log.Error("delete task after failed start", "container", c.ID, "error", err)
		return
	}
	c.mu.Lock()
	c.task, c.noTask = nil, true
	c.mu.Unlock()
}
