package shim

import (
	"context"
	"encoding/json"
	"fmt"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/cricket-cri/cricket/internal/cgroup"
)

func isPaused(c *container) (bool, error) {
	st, err := c.lc.Status()
	return st == libcontainer.Paused, err
}

// Pause freezes a container.
func (s *Service) Pause(ctx context.Context, r *taskapi.PauseRequest) (*emptypb.Empty, error) {
	c, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	if err := c.lc.Pause(); err != nil {
		return nil, fmt.Errorf("pause container %s: %w", c.id, err)
	}
	s.publish(runtime.TaskPausedEventTopic, &eventstypes.TaskPaused{ContainerID: c.id})
	return &emptypb.Empty{}, nil
}

// Resume thaws a paused container.
func (s *Service) Resume(ctx context.Context, r *taskapi.ResumeRequest) (*emptypb.Empty, error) {
	c, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	if err := c.lc.Resume(); err != nil {
		return nil, fmt.Errorf("resume container %s: %w", c.id, err)
	}
	s.publish(runtime.TaskResumedEventTopic, &eventstypes.TaskResumed{ContainerID: c.id})
	return &emptypb.Empty{}, nil
}

// Checkpoint is not supported (CRIU).
func (s *Service) Checkpoint(ctx context.Context, r *taskapi.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, fmt.Errorf("checkpoint of container %s: %w", r.ID, errdefs.ErrNotImplemented)
}

// Update applies new cgroup resources (an OCI LinuxResources) to a
// container.
func (s *Service) Update(ctx context.Context, r *taskapi.UpdateTaskRequest) (*emptypb.Empty, error) {
	c, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	var res specs.LinuxResources
	if err := json.Unmarshal(r.Resources.GetValue(), &res); err != nil {
		return nil, fmt.Errorf("update container %s: resources: %w: %w", c.id, err, errdefs.ErrInvalidArgument)
	}
	cfg := c.lc.Config()
	spec := *c.spec
	linux := *spec.Linux
	linux.Resources = &res
	spec.Linux = &linux
	cg, err := specconv.CreateCgroupConfig(&specconv.CreateOpts{CgroupName: c.id, UseSystemdCgroup: cfg.Cgroups.Systemd, Spec: &spec}, nil)
	if err != nil {
		return nil, fmt.Errorf("update container %s: %w: %w", c.id, err, errdefs.ErrInvalidArgument)
	}
	// The device rules stay: an update does not carry them.
	cg.Resources.Devices = cfg.Cgroups.Resources.Devices
	cfg.Cgroups.Resources = cg.Resources
	if err := c.lc.Set(cfg); err != nil {
		return nil, fmt.Errorf("update container %s: %w", c.id, err)
	}
	return &emptypb.Empty{}, nil
}

// Stats reports a container's cgroup metrics in containerd's types (cgroup
// v1 or v2 metrics), as containerd's runc shim does.
func (s *Service) Stats(ctx context.Context, r *taskapi.StatsRequest) (*taskapi.StatsResponse, error) {
	c, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	pid, _, _, _ := c.init.state()
	cg, err := cgroup.LoadPID(pid)
	if err != nil {
		return nil, fmt.Errorf("cgroup of container %s: %w", c.id, err)
	}
	metrics, err := cg.Stat()
	if err != nil {
		return nil, fmt.Errorf("stats of container %s: %w", c.id, err)
	}
	a, err := typeurl.MarshalAny(metrics.Any())
	if err != nil {
		return nil, err
	}
	return &taskapi.StatsResponse{Stats: &anypb.Any{TypeUrl: a.GetTypeUrl(), Value: a.GetValue()}}, nil
}
