package sandbox

import (
	"context"
	"encoding/json"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Info is the verbose status of a sandbox: what an operator debugging a pod
// wants to see.
type Info struct {
	PID uint32 `json:"pid"`
	// Mode is how the pod's namespaces are held: "pause" or "pinned".
	Mode           string          `json:"sandboxMode"`
	NetNSPath      string          `json:"netNamespacePath,omitempty"`
	CNIResult      json.RawMessage `json:"cniResult,omitempty"`
	RuntimeHandler string          `json:"runtimeHandler"`
	Image          string          `json:"image"`
	CgroupParent   string          `json:"cgroupParent,omitempty"`
	Dir            string          `json:"stateDir"`
	RuntimeSpec    json.RawMessage `json:"runtimeSpec,omitempty"`
	// Overhead and Resources are the pod's as kubelet last gave them
	// (RunPodSandbox, then UpdatePodSandboxResources); cricket does not
	// write them to the pod cgroup, which kubelet owns.
	Overhead  *runtime.LinuxContainerResources `json:"overhead,omitempty"`
	Resources *runtime.LinuxContainerResources `json:"resources,omitempty"`
}

// Info gathers a sandbox's verbose status from memory (the pause
// container's spec is read from containerd only when cricketd does not
// hold it, once after a restart). A missing spec (the pause container is
// gone, or a pinned sandbox) is left out rather than failing the call.
func (m *Manager) Info(ctx context.Context, sb *Sandbox) *Info {
	st := sb.Status()
	info := &Info{
		PID: st.PID, NetNSPath: sb.NetNSPath, CNIResult: st.CNIResult, RuntimeHandler: sb.RuntimeHandler,
		Image: sb.Image, CgroupParent: sb.CgroupParent, Dir: sb.Dir, Mode: "pause",
	}
	if sb.Pinned {
		info.Mode = "pinned"
	}
	info.Overhead, info.Resources = sb.Resources()
	if s, err := m.controllerOf(sb).Spec(m.ctx(ctx), sb); err == nil {
		info.RuntimeSpec = s
	}
	return info
}
