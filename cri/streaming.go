package cri

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/container"
)

// Exec returns a streaming URL for an interactive command in a running
// container.
func (s *Server) Exec(ctx context.Context, r *runtime.ExecRequest) (*runtime.ExecResponse, error) {
	if err := container.ValidateExecCmd(r.GetCmd()); err != nil {
		return nil, err
	}
	c, err := s.runningContainer(r.GetContainerId())
	if err != nil {
		return nil, err
	}
	r.ContainerId = c.ID
	return s.Streams.GetExec(r)
}

// Attach returns a streaming URL attached to a running container's stdio.
func (s *Server) Attach(ctx context.Context, r *runtime.AttachRequest) (*runtime.AttachResponse, error) {
	c, err := s.runningContainer(r.GetContainerId())
	if err != nil {
		return nil, err
	}
	if r.GetStdin() && !c.Config.GetStdin() {
		return nil, invalid("attach with stdin to container %s, which was created without stdin", c.ID)
	}
	r.ContainerId = c.ID
	return s.Streams.GetAttach(r)
}

// PortForward returns a streaming URL forwarding ports into a pod.
func (s *Server) PortForward(ctx context.Context, r *runtime.PortForwardRequest) (*runtime.PortForwardResponse, error) {
	if err := checkID("pod_sandbox_id", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	sb, err := s.readySandbox(r.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	for _, p := range r.GetPort() {
		if p <= 0 || p > 65535 {
			return nil, invalid("port %d out of range", p)
		}
	}
	r.PodSandboxId = sb.ID
	return s.Streams.GetPortForward(r)
}

func (s *Server) runningContainer(id string) (*container.Container, error) {
	if err := checkID("container_id", id); err != nil {
		return nil, err
	}
	c, err := s.Containers.Get(id)
	if err != nil {
		return nil, err
	}
	if st := c.Status(); st.State != container.StateRunning {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	return c, nil
}
