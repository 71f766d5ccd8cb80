package nri

import (
	"context"
	"errors"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
)

// synchronize gives a plugin that registers cricket's pods and containers
// (the library calls it, with the plugin's callback); the plugin may ask
// for updates in return. Events wait meanwhile, so that the plugin misses
// none: it is added to the plugins events go to once this returns.
func (n *NRI) synchronize(ctx context.Context, cb adaptation.SyncCB) error {
	d := n.domainOf()
	if d == nil {
		return errors.New("NRI: cricket's state is not restored yet")
	}
	n.mu.Lock()
	pods, ctrs := d.ListPodSandboxes(), d.ListContainers(ctx)
	// After a restart of cricketd the phases start empty: what a plugin
	// is given, it is told the end of.
	for _, p := range pods {
		if !n.state.needsRemoval(p.GetId()) {
			n.state.set(p.GetId(), running)
		}
	}
	for _, c := range ctrs {
		n.state.set(c.GetId(), containerPhase(c.GetState()))
	}
	updates, err := cb(ctx, pods, ctrs)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	n.apply(ctx, "Synchronize", updates)
	return nil
}

// updateFromPlugin applies the container updates a plugin asks for on
// its own, and returns those that failed.
func (n *NRI) updateFromPlugin(ctx context.Context, updates []*api.ContainerUpdate) ([]*api.ContainerUpdate, error) {
	return n.apply(ctx, "a plugin's own request", updates), nil
}

// apply carries out plugins' container updates (after their answer to
// event) and returns those that failed and may not be ignored.
func (n *NRI) apply(ctx context.Context, event string, updates []*api.ContainerUpdate) []*api.ContainerUpdate {
	d := n.domainOf()
	var failed []*api.ContainerUpdate
	for _, u := range updates {
		r := u.GetLinux().GetResources()
		if r == nil {
			continue
		}
		var err error
		if d == nil {
			err = errors.New("cricket's state is not restored yet")
		} else {
			err = d.UpdateContainer(ctx, u.GetContainerId(), r)
		}
		switch {
		case err == nil:
			n.log.Info("container resources updated by NRI plugins", "container", u.GetContainerId(), "after", event)
		case u.GetIgnoreFailure():
			n.log.Debug("NRI plugins' container update failed (ignored)", "container", u.GetContainerId(), "after", event, "error", err)
		default:
			n.log.Warn("NRI plugins' container update failed", "container", u.GetContainerId(), "after", event, "error", err)
			failed = append(failed, u)
		}
	}
	return failed
}

// refuseEvictions logs evictions plugins ask for: cricket does not stop
// containers on a plugin's word. (The library's merged answers do not
// carry them as of NRI 0.12; this says so should one come.)
func (n *NRI) refuseEvictions(event string, evictions []*api.ContainerEviction) {
	for _, e := range evictions {
		n.log.Warn("NRI plugin asked to evict a container; refused: cricket does not evict containers for plugins",
			"container", e.GetContainerId(), "reason", e.GetReason(), "after", event)
	}
}
