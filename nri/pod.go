package nri

import (
	"context"

	"github.com/containerd/nri/pkg/api"
)

// RunPodSandbox tells plugins of a pod that now runs. A plugin's error
// fails the pod's creation; plugins that saw it start then see it stop
// and go.
func (n *NRI) RunPodSandbox(ctx context.Context, pod *api.PodSandbox) error {
	if !n.on() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	err := n.a.RunPodSandbox(ctx, &api.RunPodSandboxRequest{Pod: pod})
	n.state.set(pod.GetId(), running)
	if err != nil {
		n.removePod(ctx, pod)
		return n.failed("RunPodSandbox", err)
	}
	return nil
}

// UpdatePodSandbox hands a pod's new overhead and resources to plugins
// before cricket records them; a plugin's error fails the update.
func (n *NRI) UpdatePodSandbox(ctx context.Context, pod *api.PodSandbox, overhead, resources *api.LinuxResources) error {
	if !n.on() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, err := n.a.UpdatePodSandbox(ctx, &api.UpdatePodSandboxRequest{Pod: pod, OverheadLinuxResources: overhead, LinuxResources: resources})
	if err != nil {
		return n.failed("UpdatePodSandbox", err)
	}
	return nil
}

// PostUpdatePodSandbox tells plugins a pod's update is recorded.
func (n *NRI) PostUpdatePodSandbox(ctx context.Context, pod *api.PodSandbox) {
	n.relay(func() {
		n.logFailure("PostUpdatePodSandbox", pod.GetId(), n.a.PostUpdatePodSandbox(ctx, &api.PostUpdatePodSandboxRequest{Pod: pod}))
	})
}

// StopPodSandbox tells plugins a pod stopped: its containers and its
// namespaces' holder are gone. Once per pod; failures are logged.
func (n *NRI) StopPodSandbox(ctx context.Context, pod *api.PodSandbox) {
	n.relay(func() { n.stopPod(ctx, pod) })
}

// RemovePodSandbox tells plugins a pod is gone (stopped first, if they
// were not told). Failures are logged.
func (n *NRI) RemovePodSandbox(ctx context.Context, pod *api.PodSandbox) {
	n.relay(func() { n.removePod(ctx, pod) })
}

func (n *NRI) stopPod(ctx context.Context, pod *api.PodSandbox) {
	if !n.state.needsStop(pod.GetId()) {
		return
	}
	err := n.a.StopPodSandbox(ctx, &api.StopPodSandboxRequest{Pod: pod})
	n.state.set(pod.GetId(), stopped)
	n.logFailure("StopPodSandbox", pod.GetId(), err)
}

func (n *NRI) removePod(ctx context.Context, pod *api.PodSandbox) {
	if !n.state.needsRemoval(pod.GetId()) {
		return
	}
	n.stopPod(ctx, pod)
	err := n.a.RemovePodSandbox(ctx, &api.RemovePodSandboxRequest{Pod: pod})
	n.state.set(pod.GetId(), unknown)
	n.logFailure("RemovePodSandbox", pod.GetId(), err)
}

// logFailure logs a failed notification, which fails nothing: cricket's
// operation happened.
func (n *NRI) logFailure(event, id string, err error) {
	if err != nil {
		n.log.Error("NRI plugins failed an event", "event", event, "id", id, "error", n.failed(event, err))
	}
}
