package shim

import (
	"context"
	"encoding/json"
	"fmt"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Exec adds an exec process to a running container; Start runs it.
func (s *Service) Exec(ctx context.Context, r *taskapi.ExecProcessRequest) (*emptypb.Empty, error) {
	c, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	if _, st, _, _ := c.init.state(); st != task.Status_RUNNING {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.id, st, errdefs.ErrFailedPrecondition)
	}
	if r.Spec == nil {
		return nil, fmt.Errorf("exec %s: no process spec: %w", r.ExecID, errdefs.ErrInvalidArgument)
	}
	var ps specs.Process
	if err := json.Unmarshal(r.Spec.GetValue(), &ps); err != nil {
		return nil, fmt.Errorf("exec %s: process spec: %w: %w", r.ExecID, err, errdefs.ErrInvalidArgument)
	}
	lp, err := libcontainerProcess(&ps, false)
	if err != nil {
		return nil, fmt.Errorf("exec %s: %w: %w", r.ExecID, err, errdefs.ErrInvalidArgument)
	}
	p := newProcess(r.ExecID, stdioPaths{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal})
	p.lp = lp
	c.mu.Lock()
	if _, ok := c.execs[r.ExecID]; ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("exec %s of container %s: %w", r.ExecID, c.id, errdefs.ErrAlreadyExists)
	}
	c.execs[r.ExecID] = p
	c.mu.Unlock()
	s.publish(runtime.TaskExecAddedEventTopic, &eventstypes.TaskExecAdded{ContainerID: c.id, ExecID: r.ExecID})
	return &emptypb.Empty{}, nil
}

// startExec runs an exec process in the container's namespaces and cgroup.
func (s *Service) startExec(c *container, p *process) (*taskapi.StartResponse, error) {
	if _, st, _, _ := p.state(); st != task.Status_CREATED {
		return nil, fmt.Errorf("exec %s of container %s is %s: %w", p.id, c.id, st, errdefs.ErrFailedPrecondition)
	}
	if err := attachStdio(p, p.lp); err != nil {
		return nil, err
	}
	s.reaper.spawn.RLock()
	if err := c.lc.Run(p.lp); err != nil {
		s.reaper.spawn.RUnlock()
		p.closeIO()
		return nil, fmt.Errorf("start exec %s of container %s: %w", p.id, c.id, err)
	}
	pid, _ := p.lp.Pid()
	p.setStatus(task.Status_RUNNING)
	p.started(s.reaper, pid, nil, func(p *process) { s.exited(c, p) })
	s.reaper.spawn.RUnlock()
	if err := stdioStarted(p); err != nil {
		p.lp.Signal(killSignal)
		return nil, err
	}
	s.publish(runtime.TaskExecStartedEventTopic, &eventstypes.TaskExecStarted{ContainerID: c.id, ExecID: p.id, Pid: uint32(pid)})
	return &taskapi.StartResponse{Pid: uint32(pid)}, nil
}
