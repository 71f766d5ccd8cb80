package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/internal/steps"
)

// Stop stops every container of the sandbox, kills its pause process and
// tears down its network (CNI DEL, then the namespace). Stopping an
// unknown or stopped sandbox succeeds.
func (m *Manager) Stop(ctx context.Context, id string) error {
	sb, err := m.store.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sb.op.Lock()
	defer sb.op.Unlock()
	return m.stop(m.ctx(ctx), sb)
}

// stop runs with sb.op held. Each step is idempotent, so a stop that failed
// half way can be retried; after one that finished, only the containers are
// looked at again (a creation racing the stop may have added one).
func (m *Manager) stop(ctx context.Context, sb *Sandbox) error {
	t := steps.Start("StopPodSandbox")
	defer t.Done(m.opts.Log, "sandbox", sb.ID)
	sb.mu.Lock()
	sb.stopping = true
	sb.mu.Unlock()
	if m.containers != nil {
		if err := m.containers.StopPod(ctx, sb.ID); err != nil {
			return fmt.Errorf("stop containers of sandbox %s: %w", sb.ID, err)
		}
	}
	t.Step("containers")
	sb.mu.Lock()
	stopped := sb.stopped
	sb.mu.Unlock()
	if stopped {
		return nil
	}
	if err := m.controllerOf(sb).Stop(ctx, sb); err != nil {
		return err
	}
	t.Step("pause")
	// Written once the network is torn down.
	wasReady := false
	sb.update(checkpoint.Deferred, func(s *Status) bool {
		wasReady, s.State = s.State == StateReady, StateNotReady
		return wasReady
	})
	if wasReady {
		m.opts.Events.Publish(events.Lifecycle{ID: sb.ID, SandboxID: sb.ID, Kind: events.Stopped, Object: sb})
	}
	m.nriStopped(ctx, sb)
	// The pause process is gone. Deleting its task (the shim exits with
	// it) takes the OCI runtime a while: it runs while the network is torn
	// down, instead of later in RemovePodSandbox.
	released := make(chan error, 1)
	go func() { released <- m.controllerOf(sb).Release(ctx, sb) }()
	var errs []error
	if err := unmountShm(sb); err != nil {
		errs = append(errs, err)
	}
	if err := m.teardownNetwork(ctx, sb); err != nil {
		errs = append(errs, err)
	}
	t.Step("network")
	if err := <-released; err != nil {
		errs = append(errs, err)
	}
	t.Step("release")
	if err := sb.update(checkpoint.Requested, nil); err != nil {
		errs = append(errs, err)
	}
	t.Step("checkpoint")
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	sb.mu.Lock()
	sb.stopped = true
	sb.mu.Unlock()
	return nil
}

// teardownNetwork releases the pod's CNI attachment (recorded, so it works
// after a restart or reboot) and removes its namespace.
func (m *Manager) teardownNetwork(ctx context.Context, sb *Sandbox) error {
	if sb.HostNetwork() {
		return nil
	}
	if sb.Status().NetAttached {
		if err := m.network.Detach(ctx, m.networkPod(sb)); err != nil {
			return err
		}
		// Written with the stop.
		sb.update(checkpoint.Deferred, func(s *Status) bool { s.NetAttached = false; return true })
	}
	return m.network.RemoveNetNS(sb.NetNSPath)
}

// Remove removes a sandbox and all its containers, stopping them first.
// Removing an unknown sandbox succeeds; the pod's name is free afterwards.
func (m *Manager) Remove(ctx context.Context, id string) error {
	sb, err := m.store.Get(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx = m.ctx(ctx)
	sb.op.Lock()
	defer sb.op.Unlock()
	if _, err := m.store.Get(sb.ID); errdefs.IsNotFound(err) {
		return nil // removed by a concurrent call while we waited
	}
	t := steps.Start("RemovePodSandbox")
	defer t.Done(m.opts.Log, "sandbox", sb.ID)
	if err := m.stop(ctx, sb); err != nil {
		return err
	}
	t.Step("stop")
	if m.containers != nil {
		if err := m.containers.RemovePod(ctx, sb.ID); err != nil {
			return fmt.Errorf("remove containers of sandbox %s: %w", sb.ID, err)
		}
	}
	t.Step("containers")
	if err := m.controllerOf(sb).Delete(ctx, sb); err != nil {
		return err
	}
	m.removeDeadShimSocket(sb)
	t.Step("pause")
	if err := removeFiles(sb); err != nil {
		return fmt.Errorf("remove files of sandbox %s: %w", sb.ID, err)
	}
	t.Step("files")
	if err := sb.removeCheckpoint(); err != nil {
		return err
	}
	t.Step("checkpoint")
	m.nriRemoved(ctx, sb)
	m.store.Remove(sb.ID)
	sb.listCharge.Release()
	m.names.Release(sb.Name(), sb.ID)
	m.opts.Events.Publish(events.Lifecycle{ID: sb.ID, SandboxID: sb.ID, Kind: events.Deleted, Object: sb})
	m.opts.Log.Info("sandbox removed", "sandbox", sb.ID)
	return nil
}
