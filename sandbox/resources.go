package sandbox

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/spec"
)

// UpdateResources records a pod's new overhead and total resources
// (UpdatePodSandboxResources, sent by kubelet after an in-place resize).
// kubelet owns the pod's cgroup and has already resized it, overhead
// included, before it calls; the request carries the resources without
// the overhead, so writing them to the cgroup would shrink the pod below
// what kubelet made it. Like containerd and CRI-O (which only hand the
// call on to NRI plugins), cricket writes no cgroup: it keeps the values
// with the sandbox, across restarts, and reports them in the verbose
// PodSandboxStatus. NRI plugins are handed the update first (a plugin's
// error fails it) and told once it is recorded.
func (m *Manager) UpdateResources(ctx context.Context, id string, overhead, resources *runtime.LinuxContainerResources) error {
	for name, r := range map[string]*runtime.LinuxContainerResources{"overhead": overhead, "resources": resources} {
		if _, err := spec.Resources(r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	sb, err := m.store.Get(id)
	if err != nil {
		return err
	}
	if err := m.nriUpdate(ctx, sb, overhead, resources); err != nil {
		return fmt.Errorf("update resources of sandbox %s: %w", sb.ID, err)
	}
	if err := m.keepResources(sb, overhead, resources); err != nil {
		return err
	}
	m.nriUpdated(ctx, sb)
	return nil
}

// keepResources keeps a pod's new resources with it.
func (m *Manager) keepResources(sb *Sandbox, overhead, resources *runtime.LinuxContainerResources) error {
	// Under op, so that a concurrent Remove cannot lose its checkpoint
	// removal to this write.
	sb.op.Lock()
	defer sb.op.Unlock()
	if _, err := m.store.Get(sb.ID); errdefs.IsNotFound(err) {
		return fmt.Errorf("sandbox %s was removed: %w", sb.ID, errdefs.ErrNotFound)
	}
	if err := sb.update(checkpoint.Requested, func(s *Status) bool {
		s.Overhead = proto.Clone(overhead).(*runtime.LinuxContainerResources)
		s.Resources = proto.Clone(resources).(*runtime.LinuxContainerResources)
		return true
	}); err != nil {
		return fmt.Errorf("checkpoint sandbox %s: %w", sb.ID, err)
	}
	return nil
}

// Resources are a pod's overhead and total resources: kubelet's last
// UpdatePodSandboxResources, else what RunPodSandbox was given.
func (s *Sandbox) Resources() (overhead, resources *runtime.LinuxContainerResources) {
	if st := s.Status(); st.Overhead != nil || st.Resources != nil {
		return st.Overhead, st.Resources
	}
	return s.Config.GetLinux().GetOverhead(), s.Config.GetLinux().GetResources()
}
