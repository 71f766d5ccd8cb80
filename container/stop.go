package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/events"
)

// killTimeout bounds waiting for a SIGKILLed container to be reported exited.
const killTimeout = 30 * time.Second

// Stop stops a running container: its stop signal, then SIGKILL after
// timeout seconds (at once for 0). Stopping an unknown, created or exited
// container succeeds.
func (m *Manager) Stop(ctx context.Context, id string, timeout int64) error {
	c, err := m.store.get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	return m.stop(m.ctx(ctx), c, time.Duration(timeout)*time.Second)
}

func (m *Manager) stop(ctx context.Context, c *Container, grace time.Duration) error {
	if c.Status().State != StateRunning {
		return nil
	}
	ctr, err := m.client.LoadContainer(ctx, c.ID)
	if err != nil {
		return m.awaitExit(ctx, c, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return m.awaitExit(ctx, c, err)
	}
	if grace > 0 {
		sig, err := signalNamed(c.StopSignal)
		if err != nil {
			return err
		}
		if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal container %s with %s: %w", c.ID, c.StopSignal, err)
		}
		select {
		case <-c.exitedChan():
			return nil
		case <-time.After(grace):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("kill container %s: %w", c.ID, err)
	}
	return m.awaitExit(ctx, c, nil)
}

// awaitExit waits (bounded) for a container to be reported exited. cause is
// why the task could not be signalled (nil after a kill): a missing task
// means its exit is being recorded.
func (m *Manager) awaitExit(ctx context.Context, c *Container, cause error) error {
	if cause != nil && !errdefs.IsNotFound(cause) {
		return fmt.Errorf("stop container %s: %w", c.ID, cause)
	}
	select {
	case <-c.exitedChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(killTimeout):
		// The exit event never came (missed while reconnecting): read
		// the task's state directly.
		if code, at, exited := m.taskExit(ctx, c.ID); exited {
			m.finish(c, code, at)
			return nil
		}
		return fmt.Errorf("container %s did not exit within %s of SIGKILL: %w", c.ID, killTimeout, errdefs.ErrUnavailable)
	}
}

func (c *Container) exitedChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exited
}

// signalNamed parses "SIGTERM", "TERM", "SIGNAL_SIGTERM" or "15".
func signalNamed(name string) (syscall.Signal, error) {
	n := name
	if len(n) > 7 && n[:7] == "SIGNAL_" {
		n = n[7:]
	}
	if s := unix.SignalNum(n); s != 0 {
		return s, nil
	}
	if s := unix.SignalNum("SIG" + n); s != 0 {
		return s, nil
	}
	var num int
	if _, err := fmt.Sscanf(n, "%d", &num); err == nil && num > 0 && num < 65 {
		return syscall.Signal(num), nil
	}
	return 0, fmt.Errorf("unknown stop signal %q: %w", name, errdefs.ErrInvalidArgument)
}

// Remove removes a container, killing it first if it runs. Removing an
// unknown container succeeds; the name is free afterwards. The CRI log file
// stays: kubelet owns it.
func (m *Manager) Remove(ctx context.Context, id string) error {
	c, err := m.store.get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx = m.ctx(ctx)
	c.op.Lock()
	defer c.op.Unlock()
	if _, err := m.store.get(c.ID); errdefs.IsNotFound(err) {
		return nil // a concurrent Remove finished first
	}
	if err := m.stop(ctx, c, 0); err != nil {
		return err
	}
	if err := m.deleteContainerd(ctx, c.ID); err != nil {
		return err
	}
	if err := m.unmountImages(ctx, c); err != nil {
		return fmt.Errorf("remove image mounts of container %s: %w", c.ID, err)
	}
	c.mu.Lock()
	io := c.io
	c.mu.Unlock()
	if io != nil {
		io.close()
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("remove files of container %s: %w", c.ID, err)
	}
	if err := removeFile(m.checkpointPath(c.ID)); err != nil {
		return fmt.Errorf("remove checkpoint of container %s: %w", c.ID, err)
	}
	m.store.remove(c.ID)
	m.forgetLayer(c.ID)
	m.names.Release(c.NameKey, c.ID)
	m.opts.Events.Publish(events.Lifecycle{ID: c.ID, SandboxID: c.SandboxID, Kind: events.Deleted, Object: c})
	m.opts.Log.Info("container removed", "container", c.ID)
	return nil
}

// deleteContainerd deletes a container's task, containerd container and
// snapshot; missing ones are fine.
func (m *Manager) deleteContainerd(ctx context.Context, id string) error {
	ctr, err := m.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load container %s: %w", id, err)
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task of container %s: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("load task of container %s: %w", id, err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return nil
}

// StopPod kills every container of a sandbox (StopPodSandbox: kubelet has
// already given them their grace period).
func (m *Manager) StopPod(ctx context.Context, sandboxID string) error {
	return m.eachInPod(sandboxID, func(c *Container) error {
		c.op.Lock()
		defer c.op.Unlock()
		return m.stop(m.ctx(ctx), c, 0)
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
