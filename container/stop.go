package container

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/internal/steps"
	"github.com/cricket-cri/cricket/internal/taskerr"
)

// killTimeout bounds waiting for a SIGKILLed container to be reported exited.
const killTimeout = 30 * time.Second

// Stop stops a running container: its stop signal, then SIGKILL after
// timeout seconds (at once for 0). Stopping an unknown, created or exited
// container succeeds.
func (m *Manager) Stop(ctx context.Context, id string, timeout int64) error {
	c, err := m.store.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx = m.ctx(ctx)
	if err := m.stopLocked(ctx, c, time.Duration(timeout)*time.Second); err != nil {
		return err
	}
	// After the lock: a plugin's answer may update other containers.
	m.nriStopped(ctx, c)
	return nil
}

func (m *Manager) stopLocked(ctx context.Context, c *Container, grace time.Duration) error {
	c.op.Lock()
	defer c.op.Unlock()
	return m.stop(ctx, c, grace)
}

func (m *Manager) stop(ctx context.Context, c *Container, grace time.Duration) error {
	if c.Status().State != StateRunning {
		return nil
	}
	t := steps.Start("StopContainer")
	defer t.Done(m.opts.Log, "container", c.ID)
	task, err := m.containerdTask(ctx, c)
	if err != nil {
		return m.awaitExit(ctx, c, err)
	}
	t.Step("task")
	if grace > 0 {
		// Whatever goes wrong with the stop signal, the stop still ends
		// in SIGKILL: a container must always be stoppable.
		if sig, err := parseSignal(c.StopSignal); err != nil {
			m.opts.Log.Warn("stop signal unusable; killing at once", "container", c.ID, "error", err)
		} else if err := task.Kill(ctx, sig); taskerr.Gone(err) {
			// The process exited (or its shim went away) first.
			return m.awaitExit(ctx, c, nil)
		} else if err != nil {
			m.opts.Log.Warn("stop signal not delivered; killing at once", "container", c.ID, "signal", c.StopSignal, "error", err)
		} else {
			t.Step("signal")
			select {
			case <-c.exitedChan():
				t.Step("exit")
				return nil
			case <-time.After(grace):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	// A kill that loses its race with the process's exit (the task is
	// gone, or its deletion closed containerd's connection to the shim)
	// has nothing left to do: the exit is being recorded.
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !taskerr.Gone(err) {
		return fmt.Errorf("kill container %s: %w", c.ID, taskerr.Classify(err))
	}
	t.Step("kill")
	defer t.Step("exit")
	return m.awaitExit(ctx, c, nil)
}

// awaitExit waits (bounded) for a container to be reported exited. cause is
// why the task could not be signalled (nil after a kill): a task that is
// gone (see taskerr.Gone) means its exit is being recorded.
func (m *Manager) awaitExit(ctx context.Context, c *Container, cause error) error {
	if cause != nil && !taskerr.Gone(cause) {
		return fmt.Errorf("stop container %s: %w", c.ID, taskerr.Classify(cause))
	}
	select {
	case <-c.exitedChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(killTimeout):
	}
	// The exit event never came (missed while reconnecting): read the
	// task's state directly. finish records an exit once; if it is
	// already recording this one, this waits for it.
	code, at, exited := m.taskExit(ctx, c.ID)
	if !exited {
		return fmt.Errorf("container %s did not exit within %s of SIGKILL: %w", c.ID, killTimeout, errdefs.ErrUnavailable)
	}
	m.finish(c, code, at)
	select {
	case <-c.exitedChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Container) exitedChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exited
}

// Remove removes a container, killing it first if it runs. Removing an
// unknown container succeeds; the name is free afterwards. The CRI log file
// stays: kubelet owns it.
func (m *Manager) Remove(ctx context.Context, id string) error {
	c, err := m.store.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx = m.ctx(ctx)
	c.op.Lock()
	defer c.op.Unlock()
	if _, err := m.store.Get(c.ID); errdefs.IsNotFound(err) {
		return nil // a concurrent Remove finished first
	}
	t := steps.Start("RemoveContainer")
	defer t.Done(m.opts.Log, "container", c.ID)
	if err := m.stop(ctx, c, 0); err != nil {
		return err
	}
	t.Step("stop")
	// While its spec can still be read, as containerd does.
	m.nriRemoved(ctx, c)
	// The containerd objects, the files and the checkpoint go at the same
	// time. Should any removal fail, the container stays listed and
	// removing it again finishes; should cricketd die, start-up removes
	// the containerd container and the directory that no checkpoint owns.
	// Image mounts are the exception: only the checkpoint leads start-up
	// to unmount them, so it goes last.
	deleted, files := make(chan error, 1), make(chan error, 1)
	go func() { deleted <- m.deleteStopped(ctx, c) }()
	go func() { files <- m.removeFiles(ctx, c) }()
	var cerr error
	early := !hasImageMounts(c.Config)
	if early {
		cerr = c.removeCheckpoint()
	}
	if err := errors.Join(<-deleted, <-files, cerr); err != nil {
		return err
	}
	if !early {
		if err := c.removeCheckpoint(); err != nil {
			return err
		}
	}
	t.Step("removed")
	m.store.Remove(c.ID)
	c.listCharge.Release()
	m.forgetLayer(c.ID)
	m.names.Release(c.NameKey, c.ID)
	m.opts.Events.Publish(events.Lifecycle{ID: c.ID, SandboxID: c.SandboxID, Kind: events.Deleted, Object: c})
	m.opts.Log.Info("container removed", "container", c.ID)
	return nil
}

// hasImageMounts reports whether the config mounts an image.
func hasImageMounts(cfg *runtime.ContainerConfig) bool {
	for _, mt := range cfg.GetMounts() {
		if mt.GetImage().GetImage() != "" {
			return true
		}
	}
	return false
}

// removeFiles unmounts a container's image mounts, closes its FIFOs and
// removes its directory.
func (m *Manager) removeFiles(ctx context.Context, c *Container) error {
	if err := m.unmountImages(ctx, c); err != nil {
		return fmt.Errorf("remove image mounts of container %s: %w", c.ID, err)
	}
	c.mu.Lock()
	io := c.io
	c.mu.Unlock()
	if io != nil {
		io.close()
	}
	if err := removeContainerDir(c.Dir); err != nil {
		return fmt.Errorf("remove files of container %s: %w", c.ID, err)
	}
	return nil
}

// deleteContainerd deletes a container's task, containerd container and
// snapshot; missing ones are fine.
func (m *Manager) deleteContainerd(ctx context.Context, id string) error {
	ctr, err := m.ctrd.loadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		// A creation cut off before the record (by a failure or a
		// crash) may have prepared the snapshot, a root of its own
		// (see sandbox.WithSnapshot): it goes by its key.
		if err := m.ctrd.removeSnapshot(ctx, m.opts.Snapshotter, id); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove snapshot of container %s: %w", id, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("load container %s: %w", id, err)
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if err := m.killAndDeleteTask(ctx, task); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task of container %s: %w", id, taskerr.Classify(err))
		}
	} else if !taskerr.Gone(err) {
		return fmt.Errorf("load task of container %s: %w", id, taskerr.Classify(err))
	} else if err := m.deleteTask(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		// Cleaning up what containerd still lists of a task it cannot
		// show (see deleteTask) is best effort.
		m.opts.Log.Warn("delete task", "container", id, "error", err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return nil
}

// deleteStopped deletes the containerd objects of a container that does not
// run. When the container is known to have no task, its snapshot and
// record are removed directly, without the task lookups deleteContainerd
// makes.
func (m *Manager) deleteStopped(ctx context.Context, c *Container) error {
	c.mu.Lock()
	noTask, snapshotter := c.noTask, c.snapshotter
	c.mu.Unlock()
	if !noTask || snapshotter == "" {
		return m.deleteContainerd(ctx, c.ID)
	}
	// The snapshot and the record that references it go at the same time:
	// if either removal fails, the container stays (its checkpoint is
	// still there) and removing it again removes what is left.
	snap := make(chan error, 1)
	go func() {
		err := m.ctrd.removeSnapshot(ctx, snapshotter, c.ID)
		if err != nil && !errdefs.IsNotFound(err) {
			err = fmt.Errorf("remove snapshot of container %s: %w", c.ID, err)
		} else {
			err = nil
		}
		snap <- err
	}()
	err := m.ctrd.deleteRecord(ctx, c.ID)
	if err != nil && !errdefs.IsNotFound(err) {
		err = fmt.Errorf("delete container %s: %w", c.ID, err)
	} else {
		err = nil
	}
	return errors.Join(err, <-snap)
}

// StopPod kills every container of a sandbox (StopPodSandbox: kubelet has
// already given them their grace period).
func (m *Manager) StopPod(ctx context.Context, sandboxID string) error {
	ctx = m.ctx(ctx)
	return m.eachInPod(sandboxID, func(c *Container) error {
		if err := m.stopLocked(ctx, c, 0); err != nil {
			return err
		}
		m.nriStopped(ctx, c)
		return nil
	})
}

// RemovePod removes every container of a sandbox.
func (m *Manager) RemovePod(ctx context.Context, sandboxID string) error {
	return m.eachInPod(sandboxID, func(c *Container) error { return m.Remove(ctx, c.ID) })
}

// eachInPod runs f for the pod's containers concurrently.
func (m *Manager) eachInPod(sandboxID string, f func(*Container) error) error {
	cs := m.store.list(sandboxID)
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = f(c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
