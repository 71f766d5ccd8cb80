package nri

import (
	"context"

	"github.com/containerd/nri/pkg/api"
)

// CreateContainer asks plugins how to adjust a container being created
// (ctr describes it by its generated spec) and returns their merged
// adjustment for the caller to apply to the spec. A plugin's error fails
// the creation; the caller then calls UndoCreateContainer. Plugins' updates
// of other containers are applied before it returns.
func (n *NRI) CreateContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, error) {
	if !n.on() {
		return nil, nil
	}
	n.mu.Lock()
	resp, err := n.a.CreateContainer(ctx, &api.CreateContainerRequest{Pod: pod, Container: ctr})
	// Plugins that answered know of the container even if others failed.
	n.state.set(ctr.GetId(), created)
	n.mu.Unlock()
	if err != nil {
		return nil, n.failed("CreateContainer", err)
	}
	n.refuseEvictions("CreateContainer", resp.GetEvict())
	// Outside mu: an update takes the container's own lock, which a
	// caller of another event may hold while it waits for mu.
	n.apply(ctx, "CreateContainer", resp.GetUpdate())
	return resp.GetAdjust(), nil
}

// UndoCreateContainer tells plugins that a container whose creation they
// were asked about was not created after all.
func (n *NRI) UndoCreateContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) {
	n.RemoveContainer(ctx, pod, ctr)
}

// PostCreateContainer tells plugins a container was created.
func (n *NRI) PostCreateContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) {
	n.relay(func() {
		n.logFailure("PostCreateContainer", ctr.GetId(), n.a.PostCreateContainer(ctx, &api.PostCreateContainerRequest{Pod: pod, Container: ctr}))
	})
}

// StartContainer tells plugins a container is about to start (its process
// exists, paused before the command). A plugin's error fails the start.
// Once per container.
func (n *NRI) StartContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) error {
	if !n.on() {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state[ctr.GetId()] != created {
		return nil
	}
	err := n.a.StartContainer(ctx, &api.StartContainerRequest{Pod: pod, Container: ctr})
	n.state.set(ctr.GetId(), running)
	if err != nil {
		return n.failed("StartContainer", err)
	}
	return nil
}

// PostStartContainer tells plugins a container started.
func (n *NRI) PostStartContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) {
	n.relay(func() {
		n.logFailure("PostStartContainer", ctr.GetId(), n.a.PostStartContainer(ctx, &api.PostStartContainerRequest{Pod: pod, Container: ctr}))
	})
}

// UpdateContainer hands a container's requested resources to plugins and
// returns the resources to apply instead, or nil to apply the request as
// it is. A plugin's error fails the update. Plugins' updates of other
// containers are applied before it returns.
func (n *NRI) UpdateContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container, r *api.LinuxResources) (*api.LinuxResources, error) {
	if !n.on() {
		return nil, nil
	}
	n.mu.Lock()
	resp, err := n.a.UpdateContainer(ctx, &api.UpdateContainerRequest{Pod: pod, Container: ctr, LinuxResources: r})
	n.mu.Unlock()
	if err != nil {
		return nil, n.failed("UpdateContainer", err)
	}
	n.refuseEvictions("UpdateContainer", resp.GetEvict())
	// The library puts the update of the container itself last (nil when
	// no plugin changed the request).
	updates := resp.GetUpdate()
	if len(updates) == 0 {
		return nil, nil
	}
	n.apply(ctx, "UpdateContainer", updates[:len(updates)-1])
	return updates[len(updates)-1].GetLinux().GetResources(), nil
}

// PostUpdateContainer tells plugins a container's resources changed.
func (n *NRI) PostUpdateContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) {
	n.relay(func() {
		n.logFailure("PostUpdateContainer", ctr.GetId(), n.a.PostUpdateContainer(ctx, &api.PostUpdateContainerRequest{Pod: pod, Container: ctr}))
	})
}

// StopContainer tells plugins a container stopped (cricket stopped it, it
// exited, or it failed to start). Once per container; failures are
// logged. Plugins' updates of other containers (resources the stopped
// one frees) are applied in the background: the caller may hold the
// container's lock, and another container's update may wait for it.
func (n *NRI) StopContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) {
	n.relay(func() { n.stopContainer(ctx, pod, ctr) })
}

// ContainerExited is StopContainer for an exit cricket saw, run in the
// background: describe builds the event's objects there (it may ask
// containerd), and only if plugins were not told yet.
func (n *NRI) ContainerExited(id string, describe func(context.Context) (*api.PodSandbox, *api.Container)) {
	if !n.on() {
		return
	}
	n.background(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if !n.state.needsStop(id) {
			return
		}
		ctx := context.Background()
		pod, ctr := describe(ctx)
		n.stopContainer(ctx, pod, ctr)
	})
}

// RemoveContainer tells plugins a container is gone (stopped first, if
// they were not told). Failures are logged.
func (n *NRI) RemoveContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) {
	n.relay(func() {
		if !n.state.needsRemoval(ctr.GetId()) {
			return
		}
		n.stopContainer(ctx, pod, ctr)
		err := n.a.RemoveContainer(ctx, &api.RemoveContainerRequest{Pod: pod, Container: ctr})
		n.state.set(ctr.GetId(), unknown)
		n.logFailure("RemoveContainer", ctr.GetId(), err)
	})
}

// stopContainer runs with mu held.
func (n *NRI) stopContainer(ctx context.Context, pod *api.PodSandbox, ctr *api.Container) {
	if !n.state.needsStop(ctr.GetId()) {
		return
	}
	resp, err := n.a.StopContainer(ctx, &api.StopContainerRequest{Pod: pod, Container: ctr})
	n.state.set(ctr.GetId(), stopped)
	if err != nil {
		n.logFailure("StopContainer", ctr.GetId(), err)
		return
	}
	if updates := resp.GetUpdate(); len(updates) > 0 {
		n.background(func() { n.apply(context.WithoutCancel(ctx), "StopContainer", updates) })
	}
}
