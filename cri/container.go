package cri

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/container"
)

// CreateContainer creates a container in a pod sandbox.
func (s *Server) CreateContainer(ctx context.Context, r *runtime.CreateContainerRequest) (*runtime.CreateContainerResponse, error) {
	if err := checkID("pod_sandbox_id", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if r.GetConfig() == nil {
		return nil, invalid("config is required")
	}
	id, err := s.Containers.Create(ctx, r.GetPodSandboxId(), r.GetConfig())
	if err != nil {
		return nil, err
	}
	return &runtime.CreateContainerResponse{ContainerId: id}, nil
}

// StartContainer starts a created container.
func (s *Server) StartContainer(ctx context.Context, r *runtime.StartContainerRequest) (*runtime.StartContainerResponse, error) {
	if err := checkID("container_id", r.GetContainerId()); err != nil {
		return nil, err
	}
	if err := s.Containers.Start(ctx, r.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtime.StartContainerResponse{}, nil
}

// StopContainer stops a container within the grace period.
func (s *Server) StopContainer(ctx context.Context, r *runtime.StopContainerRequest) (*runtime.StopContainerResponse, error) {
	if err := checkID("container_id", r.GetContainerId()); err != nil {
		return nil, err
	}
	if r.GetTimeout() < 0 {
		return nil, invalid("timeout %d must not be negative", r.GetTimeout())
	}
	if err := s.Containers.Stop(ctx, r.GetContainerId(), r.GetTimeout()); err != nil {
		return nil, err
	}
	return &runtime.StopContainerResponse{}, nil
}

// RemoveContainer removes a container, killing it if it runs.
func (s *Server) RemoveContainer(ctx context.Context, r *runtime.RemoveContainerRequest) (*runtime.RemoveContainerResponse, error) {
	if err := checkID("container_id", r.GetContainerId()); err != nil {
		return nil, err
	}
	if err := s.Containers.Remove(ctx, r.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtime.RemoveContainerResponse{}, nil
}

// ListContainers lists containers matching the filter.
func (s *Server) ListContainers(ctx context.Context, r *runtime.ListContainersRequest) (*runtime.ListContainersResponse, error) {
	out := []*runtime.Container{}
	for _, c := range s.filterContainers(r.GetFilter()) {
		st := c.Status()
		out = append(out, &runtime.Container{
			Id:           c.ID,
			PodSandboxId: c.SandboxID,
			Metadata:     c.Config.GetMetadata(),
			Image:        imageSpec(c),
			ImageRef:     c.ImageRef,
			ImageId:      c.ImageID,
			State:        toContainerState(st.State),
			CreatedAt:    c.CreatedAt.UnixNano(),
			Labels:       c.Config.GetLabels(),
			Annotations:  c.Config.GetAnnotations(),
		})
	}
	return &runtime.ListContainersResponse{Containers: out}, nil
}

func (s *Server) filterContainers(f *runtime.ContainerFilter) []*container.Container {
	var cs []*container.Container
	if id := f.GetId(); id != "" {
		c, err := s.Containers.Get(id)
		if err != nil {
			return nil
		}
		cs = []*container.Container{c}
	} else {
		sandboxID := f.GetPodSandboxId()
		if sandboxID != "" {
			sb, err := s.Sandboxes.Get(sandboxID)
			if err != nil {
				return nil
			}
			sandboxID = sb.ID
		}
		cs = s.Containers.List(sandboxID)
	}
	out := cs[:0]
	for _, c := range cs {
		if f.GetState() != nil && f.GetState().GetState() != toContainerState(c.Status().State) {
			continue
		}
		if f.GetPodSandboxId() != "" && f.GetId() != "" {
			if sb, err := s.Sandboxes.Get(f.GetPodSandboxId()); err != nil || sb.ID != c.SandboxID {
				continue
			}
		}
		if !labelsMatch(c.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// ContainerStatus reports a container's state, exit, image, mounts and
// user.
func (s *Server) ContainerStatus(ctx context.Context, r *runtime.ContainerStatusRequest) (*runtime.ContainerStatusResponse, error) {
	if err := checkID("container_id", r.GetContainerId()); err != nil {
		return nil, err
	}
	c, err := s.Containers.Get(r.GetContainerId())
	if err != nil {
		return nil, err
	}
	resp := &runtime.ContainerStatusResponse{Status: toContainerStatus(c)}
	if r.GetVerbose() {
		if b, err := json.Marshal(s.Containers.Info(ctx, c)); err == nil {
			resp.Info = map[string]string{"info": string(b)}
		}
	}
	return resp, nil
}

// UpdateContainerResources changes a container's cgroup limits.
func (s *Server) UpdateContainerResources(ctx context.Context, r *runtime.UpdateContainerResourcesRequest) (*runtime.UpdateContainerResourcesResponse, error) {
	if err := checkID("container_id", r.GetContainerId()); err != nil {
		return nil, err
	}
	if r.GetLinux() == nil {
		return nil, invalid("linux resources are required")
	}
	if err := s.Containers.UpdateResources(ctx, r.GetContainerId(), r.GetLinux()); err != nil {
		return nil, err
	}
	return &runtime.UpdateContainerResourcesResponse{}, nil
}

// ReopenContainerLog reopens a container's log file after rotation.
func (s *Server) ReopenContainerLog(ctx context.Context, r *runtime.ReopenContainerLogRequest) (*runtime.ReopenContainerLogResponse, error) {
	if err := checkID("container_id", r.GetContainerId()); err != nil {
		return nil, err
	}
	if err := s.Containers.ReopenLog(ctx, r.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtime.ReopenContainerLogResponse{}, nil
}

// ExecSync runs a command in a container and returns its output. The
// timeout covers the whole call, the process's start included; the
// command's size is bounded (see container.Manager.ExecSync).
func (s *Server) ExecSync(ctx context.Context, r *runtime.ExecSyncRequest) (*runtime.ExecSyncResponse, error) {
	if err := checkID("container_id", r.GetContainerId()); err != nil {
		return nil, err
	}
	if len(r.GetCmd()) == 0 {
		return nil, invalid("cmd is required")
	}
	if r.GetTimeout() < 0 {
		return nil, invalid("timeout %d must not be negative", r.GetTimeout())
	}
	res, err := s.Containers.ExecSync(ctx, r.GetContainerId(), r.GetCmd(), time.Duration(r.GetTimeout())*time.Second)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, status.Error(codes.DeadlineExceeded, err.Error())
	}
	if err != nil {
		return nil, err
	}
	return &runtime.ExecSyncResponse{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, nil
}

// toContainerStatus is the CRI status of a container.
func toContainerStatus(c *container.Container) *runtime.ContainerStatus {
	st := c.Status()
	out := &runtime.ContainerStatus{
		Id:          c.ID,
		Metadata:    c.Config.GetMetadata(),
		State:       toContainerState(st.State),
		CreatedAt:   c.CreatedAt.UnixNano(),
		ExitCode:    st.ExitCode,
		Image:       imageSpec(c),
		ImageRef:    c.ImageRef,
		ImageId:     c.ImageID,
		Reason:      st.Reason,
		Message:     st.Message,
		Labels:      c.Config.GetLabels(),
		Annotations: c.Config.GetAnnotations(),
		Mounts:      c.Config.GetMounts(),
		LogPath:     c.LogPath,
		User: &runtime.ContainerUser{Linux: &runtime.LinuxContainerUser{
			Uid: int64(c.User.UID), Gid: int64(c.User.GID), SupplementalGroups: toInt64s(c.User.AdditionalGids),
		}},
		StopSignal: c.StopSignalCRI(),
	}
	if !st.StartedAt.IsZero() {
		out.StartedAt = st.StartedAt.UnixNano()
	}
	if !st.FinishedAt.IsZero() {
		out.FinishedAt = st.FinishedAt.UnixNano()
	}
	if st.Resources != nil {
		out.Resources = &runtime.ContainerResources{Linux: st.Resources}
	}
	return out
}

func imageSpec(c *container.Container) *runtime.ImageSpec {
	return &runtime.ImageSpec{
		Image:              c.ImageName,
		Annotations:        c.Config.GetImage().GetAnnotations(),
		UserSpecifiedImage: c.Config.GetImage().GetUserSpecifiedImage(),
		RuntimeHandler:     c.Config.GetImage().GetRuntimeHandler(),
	}
}

func toContainerState(s container.State) runtime.ContainerState {
	switch s {
	case container.StateCreated:
		return runtime.ContainerState_CONTAINER_CREATED
	case container.StateRunning:
		return runtime.ContainerState_CONTAINER_RUNNING
	case container.StateExited:
		return runtime.ContainerState_CONTAINER_EXITED
	}
	return runtime.ContainerState_CONTAINER_UNKNOWN
}

func toInt64s(v []uint32) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}
