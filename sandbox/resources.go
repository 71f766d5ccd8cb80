package sandbox

import (
	"context"
	"fmt"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/spec"
)

// UpdateResources writes a pod's CPU and memory limits to its cgroup
// parent. A pod without a cgroup parent has no pod-level cgroup to update.
func (m *Manager) UpdateResources(ctx context.Context, id string, r *runtime.LinuxContainerResources) error {
	sb, err := m.store.Get(id)
	if err != nil {
		return err
	}
	if sb.CgroupParent == "" {
		return fmt.Errorf("sandbox %s has no cgroup parent to update: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	res, err := spec.Resources(r)
	if err != nil {
		return err
	}
	path := sb.CgroupParent
	if m.opts.SystemdCgroup {
		path = spec.SlicePath(path)
	}
	if cgroups.Mode() == cgroups.Unified {
		cg, err := cgroup2.Load(path)
		if err != nil {
			return fmt.Errorf("pod cgroup %s: %w", path, err)
		}
		return cg.Update(cgroup2.ToResources(res))
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHiearchy(spec.CgroupV1Hierarchy(cgroup1.Cpu, cgroup1.Memory, cgroup1.Cpuset, cgroup1.Hugetlb)))
	if err != nil {
		return fmt.Errorf("pod cgroup %s: %w", path, err)
	}
	if err := cg.Update(res); err != nil {
		return fmt.Errorf("update pod cgroup %s: %w", path, err)
	}
	return nil
}
