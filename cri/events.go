package cri

import (
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/container"
	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/sandbox"
)

// eventBuffer is how far a GetContainerEvents client may fall behind
// before its stream is closed.
const eventBuffer = 1024

// GetContainerEvents streams container and sandbox lifecycle events with
// the pod's status, for kubelet's evented PLEG. A client that falls
// behind gets its stream closed (ResourceExhausted), never a thinned one.
func (s *Server) GetContainerEvents(_ *runtime.GetEventsRequest, stream grpc.ServerStreamingServer[runtime.ContainerEventResponse]) error {
	sub := s.Events.Subscribe(eventBuffer)
	defer sub.Close()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case e, ok := <-sub.C:
			if !ok {
				if sub.Overflowed() {
					return fmt.Errorf("event stream fell more than %d events behind; resubscribe and relist: %w", eventBuffer, errdefs.ErrResourceExhausted)
				}
				return nil
			}
			if err := stream.Send(s.toEvent(e)); err != nil {
				return err
			}
		}
	}
}

func (s *Server) toEvent(e events.Lifecycle) *runtime.ContainerEventResponse {
	out := &runtime.ContainerEventResponse{
		ContainerId: e.ID,
		ContainerEventType: map[events.Kind]runtime.ContainerEventType{
			events.Created: runtime.ContainerEventType_CONTAINER_CREATED_EVENT,
			events.Started: runtime.ContainerEventType_CONTAINER_STARTED_EVENT,
			events.Stopped: runtime.ContainerEventType_CONTAINER_STOPPED_EVENT,
			events.Deleted: runtime.ContainerEventType_CONTAINER_DELETED_EVENT,
		}[e.Kind],
		CreatedAt: e.At.UnixNano(),
	}
	// The sandbox object stays valid after its removal, so even a
	// DELETED event carries the pod's identity.
	var sb *sandbox.Sandbox
	switch o := e.Object.(type) {
	case *sandbox.Sandbox:
		sb = o
	case *container.Container:
		sb, _ = s.Sandboxes.Get(o.SandboxID)
	}
	if sb != nil {
		out.PodSandboxStatus = toSandboxStatus(sb)
	}
	out.ContainersStatuses = s.podContainerStatuses(e.SandboxID)
	return out
}

// podContainerStatuses are the statuses of a pod's containers, newest
// first: kubelet's evented PLEG takes the first status of a name as the
// container's current attempt (its generic PLEG sorts them itself).
func (s *Server) podContainerStatuses(sandboxID string) []*runtime.ContainerStatus {
	cs := s.Containers.List(sandboxID)
	out := make([]*runtime.ContainerStatus, 0, len(cs))
	for i := len(cs) - 1; i >= 0; i-- {
		out = append(out, toContainerStatus(cs[i]))
	}
	return out
}

// now is a timestamp for status responses (evented PLEG compares them).
func now() int64 { return time.Now().UnixNano() }
