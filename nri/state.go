package nri

import "github.com/containerd/nri/pkg/api"

// phase is how far plugins have been told of a pod or container. Each
// event goes out once, in order, however often cricket's own operation
// runs (kubelet stops a pod several times, a container's exit and its
// StopContainer both mean it stopped): a stop only for what was created
// or runs, a removal only for what plugins know of, with the stop first.
type phase uint8

const (
	unknown phase = iota // never told of, or removed
	created
	running
	stopped
)

// states holds the phase of pods and containers by ID (cricket's IDs are
// unique across both). Guarded by NRI.mu.
type states map[string]phase

func (s states) set(id string, p phase) {
	if p == unknown {
		delete(s, id)
		return
	}
	s[id] = p
}

func (s states) needsStop(id string) bool    { p := s[id]; return p == created || p == running }
func (s states) needsRemoval(id string) bool { return s[id] != unknown }

// containerPhase is the phase a container in a synchronization is in.
func containerPhase(st api.ContainerState) phase {
	switch st {
	case api.ContainerState_CONTAINER_CREATED:
		return created
	case api.ContainerState_CONTAINER_RUNNING, api.ContainerState_CONTAINER_PAUSED:
		return running
	case api.ContainerState_CONTAINER_STOPPED:
		return stopped
	}
	return unknown
}
