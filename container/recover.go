package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/sandbox"
)

// Recover rebuilds the container store from checkpoints (after the
// sandboxes): running containers get their output copying back, exits that
// happened while cricketd was away are recorded, interrupted creations are
// rolled back, and containerd containers no checkpoint owns are deleted.
func (m *Manager) Recover(ctx context.Context) error {
	ctx = m.ctx(ctx)
	recs, err := checkpoint.ReadDir[record](filepath.Join(m.opts.Root, "containers"), func(path string, err error) {
		m.opts.Log.Error("unreadable container checkpoint; removing it", "path", path, "error", err)
	})
	if err != nil {
		return err
	}
	known := map[string]bool{}
	// Containers are restored concurrently, a bounded number at a time:
	// each costs a few containerd calls, and start-up must not take time
	// in proportion to the number of containers.
	var wg sync.WaitGroup
	sem := make(chan struct{}, recoveryFinishers)
	for _, rec := range recs {
		c, err := rec.Value.container(m.checkpointPath(rec.Value.ID), m.opts.Events)
		if err != nil {
			m.opts.Log.Error("undecodable container checkpoint; removing it", "path", rec.Path, "error", err)
			os.Remove(rec.Path)
			continue
		}
		if _, err := m.sandboxes.Get(c.SandboxID); rec.Value.Creating || err != nil {
			m.discard(ctx, c)
			continue
		}
		known[c.ID] = true
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m.restore(ctx, c)
		})
	}
	wg.Wait()
	ctrs, err := m.client.Containers(ctx, fmt.Sprintf("labels.%q==%q", sandbox.LabelKind, sandbox.KindContainer))
	if err != nil {
		return fmt.Errorf("list containers for orphan check: %w", err)
	}
	for _, ctr := range ctrs {
		if !known[ctr.ID()] {
			m.opts.Log.Warn("removing containerd container without a checkpoint", "id", ctr.ID())
			if err := m.deleteContainerd(ctx, ctr.ID()); err != nil {
				m.opts.Log.Error("remove orphan container", "id", ctr.ID(), "error", err)
			}
		}
	}
	m.removeOrphanDirs(ctx, known)
	return nil
}

// removeOrphanDirs removes the volatile directories that no container owns
// (a removal cut off by a crash after the checkpoint went).
func (m *Manager) removeOrphanDirs(ctx context.Context, known map[string]bool) {
	base := filepath.Join(m.opts.State, "containers")
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if known[e.Name()] || !e.IsDir() {
			continue
		}
		c := &Container{Metadata: Metadata{ID: e.Name(), Dir: filepath.Join(base, e.Name())}}
		m.opts.Log.Warn("removing a container directory without a checkpoint", "path", c.Dir)
		if err := errors.Join(m.unmountImages(ctx, c), removeContainerDir(c.Dir)); err != nil {
			m.opts.Log.Error("remove orphan container directory", "path", c.Dir, "error", err)
		}
	}
}

// discard removes a container whose creation was interrupted or whose
// sandbox is gone.
func (m *Manager) discard(ctx context.Context, c *Container) {
	m.opts.Log.Warn("removing container left by an interrupted creation or a removed sandbox", "container", c.ID)
	err := errors.Join(m.deleteContainerd(ctx, c.ID), m.unmountImages(ctx, c), removeContainerDir(c.Dir), c.removeCheckpoint())
	if err != nil {
		m.opts.Log.Error("remove interrupted container", "container", c.ID, "error", err)
	}
}

// restore puts a checkpointed container back with its current state.
func (m *Manager) restore(ctx context.Context, c *Container) {
	if err := m.names.Reserve(c.NameKey, c.ID); err != nil {
		m.opts.Log.Error("two containers claim one name", "container", c.ID, "error", err)
	}
	c.listCharge = m.opts.ListBudget.Take(listedSize(c))
	m.store.Add(c)
	st := c.Status()
	if st.State == StateExited {
		return
	}
	ctr, err := m.client.LoadContainer(ctx, c.ID)
	if errdefs.IsNotFound(err) {
		m.finishRecovered(c, 255, st.StartedAt)
		return
	}
	if err != nil {
		m.opts.Log.Error("load container during recovery", "container", c.ID, "error", err)
		return
	}
	c.mu.Lock()
	c.ctr = ctr
	c.mu.Unlock()
	task, ts, err := loadTaskStatus(ctx, ctr)
	if errdefs.IsNotFound(err) {
		if st.State == StateCreated {
			return // never started
		}
		m.finishRecovered(c, 255, st.StartedAt)
		return
	}
	if err != nil {
		m.opts.Log.Error("task status during recovery", "container", c.ID, "error", err)
		return
	}
	if ts.Status == client.Stopped {
		if err := m.reattachExited(c, task); err != nil {
			m.opts.Log.Error("reattach exited container output", "container", c.ID, "error", err)
		}
		m.finishRecovered(c, int32(ts.ExitStatus), ts.ExitTime)
		return
	}
	if err := m.reattach(ctx, c, task); err != nil {
		m.opts.Log.Error("reattach container output", "container", c.ID, "error", err)
	}
	if err := c.update(checkpoint.Happened, func(s *Status) bool {
		if s.State == StateCreated {
			s.State = StateRunning // its start's checkpoint was not written
		} else if s.PID == task.Pid() {
			return false
		}
		s.PID = task.Pid()
		return true
	}); err != nil {
		m.opts.Log.Error("checkpoint container", "container", c.ID, "error", err)
	}
}

// reattach reopens a running container's FIFOs and resumes copying its
// output into its log file from where the pipe holds it.
func (m *Manager) reattach(ctx context.Context, c *Container, task client.Task) error {
	io, err := openStdio(filepath.Join(c.Dir, "io"), c.Config.GetTty(), c.Config.GetStdin())
	if err != nil {
		return err
	}
	if err := m.copyToLog(c, io); err != nil {
		io.close()
		return err
	}
	io.closeRemote = func() { task.CloseIO(context.Background(), client.WithStdinCloser) }
	c.mu.Lock()
	c.io, c.task = io, task
	c.mu.Unlock()
	return nil
}

// reattachExited reopens the output of a container whose process exited
// while cricketd was away (see openExitedStdio): what the pipe still holds
// goes to the log, and the copy ends when it is drained instead of waiting
// for a writer that never comes.
func (m *Manager) reattachExited(c *Container, task client.Task) error {
	io, err := openExitedStdio(filepath.Join(c.Dir, "io"), c.Config.GetTty())
	if err != nil {
		return err
	}
	if err := m.copyToLog(c, io); err != nil {
		io.close()
		return err
	}
	c.mu.Lock()
	c.io, c.task = io, task
	c.mu.Unlock()
	return nil
}

// recoveryFinishers bounds how many exits found at start-up are finished
// at once (each deletes a task in its shim and drains a pipe).
const recoveryFinishers = 16

// finishRecovered records an exit that happened while cricketd was away.
// It does not hold up start-up: the gate opens while the exits are
// finished in the background, a bounded number at a time, so that the
// time to serve calls does not grow with the number of exits. Until its
// exit is finished (task deleted, output drained), a container reads as
// running, as it would while an exit event is being handled.
func (m *Manager) finishRecovered(c *Container, status int32, at time.Time) {
	go func() {
		m.recoverySem <- struct{}{}
		defer func() { <-m.recoverySem }()
		m.finish(c, status, at)
	}()
}

// loadTaskStatus loads a container's task and its status. A task the shim
// no longer knows is reported NotFound like a task containerd does not
// list: that is what a deletion cut off by a crash of cricketd leaves
// while containerd finishes it (the shim answers "container not created"
// until containerd drops the task), and either call may be the first to
// see it.
func loadTaskStatus(ctx context.Context, ctr client.Container) (client.Task, client.Status, error) {
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return nil, client.Status{}, err
	}
	ts, err := task.Status(ctx)
	if err != nil {
		return nil, client.Status{}, err
	}
	return task, ts, nil
}
