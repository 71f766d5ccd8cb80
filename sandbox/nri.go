package sandbox

import (
	"context"
	"maps"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/undo"
	"github.com/cricket-cri/cricket/nri"
)

// NRIPod describes a pod as NRI plugins see it.
func (m *Manager) NRIPod(sb *Sandbox) *api.PodSandbox {
	md := sb.Config.GetMetadata()
	st := sb.Status()
	overhead, resources := sb.Resources()
	pod := &api.PodSandbox{
		Id:             sb.ID,
		Name:           md.GetName(),
		Uid:            md.GetUid(),
		Namespace:      md.GetNamespace(),
		Labels:         maps.Clone(sb.Config.GetLabels()),
		Annotations:    maps.Clone(sb.Config.GetAnnotations()),
		RuntimeHandler: sb.RuntimeHandler,
		Pid:            st.PID,
		Linux: &api.LinuxPodSandbox{
			PodOverhead:  nri.FromCRI(overhead),
			PodResources: nri.FromCRI(resources),
			CgroupParent: sb.CgroupParent,
			CgroupsPath:  m.CgroupsPath(sb, sb.ID),
		},
	}
	for _, t := range []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.PIDNamespace} {
		if p := sb.NamespacePath(t); p != "" {
			pod.Linux.Namespaces = append(pod.Linux.Namespaces, &api.LinuxNamespace{Type: string(t), Path: p})
		}
	}
	if st.IP != "" {
		pod.Ips = append([]string{st.IP}, st.AdditionalIPs...)
	}
	return pod
}

// nriRun tells NRI plugins of a pod that runs now; if its creation fails
// later, u tells them it went. A plugin's error fails the creation.
func (m *Manager) nriRun(ctx context.Context, sb *Sandbox, u *undo.Stack) error {
	if !m.opts.NRI.Enabled() {
		return nil
	}
	u.Push(func(ctx context.Context) error { m.nriRemoved(ctx, sb); return nil })
	return m.opts.NRI.RunPodSandbox(ctx, m.NRIPod(sb))
}

// nriStopped tells NRI plugins a pod stopped.
func (m *Manager) nriStopped(ctx context.Context, sb *Sandbox) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.StopPodSandbox(ctx, m.NRIPod(sb))
	}
}

// nriRemoved tells NRI plugins a pod is gone.
func (m *Manager) nriRemoved(ctx context.Context, sb *Sandbox) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.RemovePodSandbox(ctx, m.NRIPod(sb))
	}
}

// nriUpdate hands a pod's new resources to NRI plugins before cricket
// records them.
func (m *Manager) nriUpdate(ctx context.Context, sb *Sandbox, overhead, resources *runtime.LinuxContainerResources) error {
	if !m.opts.NRI.Enabled() {
		return nil
	}
	return m.opts.NRI.UpdatePodSandbox(ctx, m.NRIPod(sb), nri.FromCRI(overhead), nri.FromCRI(resources))
}

// nriUpdated tells NRI plugins a pod's new resources are recorded.
func (m *Manager) nriUpdated(ctx context.Context, sb *Sandbox) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.PostUpdatePodSandbox(ctx, m.NRIPod(sb))
	}
}
