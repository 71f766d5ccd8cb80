package container

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/spec"
)

// UpdateResources changes a container's cgroup limits: live for a running
// container, and in its stored spec so that the limits hold if it is
// started later.
func (m *Manager) UpdateResources(ctx context.Context, id string, r *runtime.LinuxContainerResources) error {
	c, err := m.store.Get(id)
	if err != nil {
		return err
	}
	res, err := spec.Resources(r)
	if err != nil {
		return err
	}
	ctx = m.ctx(ctx)
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
	if err := ctr.Update(ctx, func(ctx context.Context, _ *client.Client, cc *containers.Container) error {
		return updateSpec(cc, s)
	}); err != nil {
		c.mu.Lock()
		c.process = nil // the stored spec is unknown now
		c.mu.Unlock()
		return fmt.Errorf("store new resources of container %s: %w", c.ID, err)
	}
	c.mu.Lock()
	c.process = s.Process
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
	c.mu.Lock()
	c.resources = r
	c.mu.Unlock()
	return m.persist(c, false)
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
