package container

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/spec"
)

// UpdateResources changes a container's cgroup limits: live for a running
// container, and in its stored spec so that the limits hold if it is
// started later. NRI plugins are handed the request first and may change
// it (a plugin's error fails the update).
func (m *Manager) UpdateResources(ctx context.Context, id string, r *runtime.LinuxContainerResources) error {
	c, err := m.store.Get(id)
	if err != nil {
		return err
	}
	if _, err := spec.Resources(r); err != nil {
		return err
	}
	if st := c.Status(); st.State == StateExited {
		return fmt.Errorf("container %s has exited: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	ctx = m.ctx(ctx)
	// Before the container's lock: plugins' updates of other containers
	// are applied meanwhile.
	if r, err = m.nriUpdate(ctx, c, r); err != nil {
		return fmt.Errorf("update container %s: %w", c.ID, err)
	}
	if err := m.updateResources(ctx, c, r); err != nil {
		return err
	}
	m.nriUpdated(ctx, c)
	return nil
}

// updateResources applies r (also for NRI plugins' own updates).
func (m *Manager) updateResources(ctx context.Context, c *Container, r *runtime.LinuxContainerResources) error {
	res, err := spec.Resources(r)
	if err != nil {
		return err
	}
	c.op.Lock()
	defer c.op.Unlock()
	if st := c.Status(); st.State == StateExited {
		return fmt.Errorf("container %s has exited: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	ctr, err := m.containerd(ctx, c)
	if err != nil {
		return err
	}
	s, err := ctr.Spec(ctx)
	if err != nil {
		return err
	}
	merged := mergeResources(s.Linux.Resources, res)
	s.Linux.Resources = merged
	if r.GetOomScoreAdj() != 0 {
		v := m.opts.OOM.Adjust(int(r.GetOomScoreAdj()))
		s.Process.OOMScoreAdj = &v
	}
	var stored []byte
	if err := ctr.Update(ctx, func(ctx context.Context, _ *client.Client, cc *containers.Container) error {
		if err := updateSpec(cc, s); err != nil {
			return err
		}
		stored = cc.Spec.GetValue()
		return nil
	}); err != nil {
		c.mu.Lock()
		c.process, c.spec = nil, nil // the stored spec is unknown now
		c.mu.Unlock()
		return fmt.Errorf("store new resources of container %s: %w", c.ID, err)
	}
	c.mu.Lock()
	c.process, c.spec = s.Process, stored
	c.mu.Unlock()
	if c.Status().State == StateRunning {
		task, err := m.containerdTask(ctx, c)
		if err != nil {
			return err
		}
		if err := task.Update(ctx, client.WithResources(merged)); err != nil {
			return fmt.Errorf("update cgroup of container %s: %w", c.ID, err)
		}
	}
	// The new limits hold whether or not they are checkpointed.
	return c.update(checkpoint.Happened, func(s *Status) bool { s.Resources = r; return true })
}

// mergeResources applies new limits over the current ones, keeping the
// device rules (which CRI updates do not carry).
func mergeResources(cur, upd *specs.LinuxResources) *specs.LinuxResources {
	out := *upd
	if cur != nil {
		out.Devices = cur.Devices
	}
	return &out
}

func updateSpec(cc *containers.Container, s *specs.Spec) error {
	return client.WithSpec(s)(context.Background(), nil, cc)
}
