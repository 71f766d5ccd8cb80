package shim

import (
	"context"
	"errors"
	"fmt"
	"os"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Create creates a container and its init process, stopped before it
// executes the container's program (runc create).
func (s *Service) Create(ctx context.Context, r *taskapi.CreateTaskRequest) (_ *taskapi.CreateTaskResponse, retErr error) {
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, fmt.Errorf("checkpoint restore: %w", errdefs.ErrNotImplemented)
	}
	s.mu.Lock()
	if s.exiting {
		s.mu.Unlock()
		return nil, fmt.Errorf("create container %s: the shim is exiting: %w", r.ID, errdefs.ErrUnavailable)
	}
	if _, ok := s.containers[r.ID]; ok || s.creating[r.ID] {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %s: %w", r.ID, errdefs.ErrAlreadyExists)
	}
	s.creating[r.ID] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.creating, r.ID)
		s.mu.Unlock()
	}()

	spec, err := readSpec(r.Bundle)
	if err != nil {
		return nil, err
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("bundle %s: spec has no process: %w", r.Bundle, errdefs.ErrInvalidArgument)
	}
	c := &container{id: r.ID, bundle: r.Bundle, spec: spec, execs: map[string]*process{}}
	if c.rootfsMounted, err = mountRootfs(r.Bundle, r.Rootfs); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil && c.rootfsMounted {
			unmountRootfs(r.Bundle)
		}
	}()
	cfg, err := libcontainerConfig(r.ID, r.Bundle, spec, systemdCgroup(r.Options))
	if err != nil {
		return nil, fmt.Errorf("container %s: %w: %w", r.ID, err, errdefs.ErrInvalidArgument)
	}
	p := newProcess(r.ID, stdioPaths{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal})
	lp, err := libcontainerProcess(spec.Process, true)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w: %w", r.ID, err, errdefs.ErrInvalidArgument)
	}
	p.lp = lp
	if err := attachStdio(p, lp); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			p.closeIO()
		}
	}()

	s.reaper.spawn.RLock()
	lc, err := libcontainer.Create(stateRoot(s.namespace), r.ID, cfg)
	if err != nil {
		s.reaper.spawn.RUnlock()
		return nil, fmt.Errorf("create container %s: %w", r.ID, err)
	}
	c.lc = lc
	if err := lc.Start(lp); err != nil {
		s.reaper.spawn.RUnlock()
		lc.Destroy()
		return nil, fmt.Errorf("create container %s: %w", r.ID, err)
	}
	pid, _ := lp.Pid()
	c.init = p
	p.started(s.reaper, pid, func() { s.killRest(c) }, func(p *process) { s.exited(c, p) })
	s.reaper.spawn.RUnlock()
	if err := stdioStarted(p); err != nil {
		lc.Signal(os.Kill)
		lc.Destroy()
		return nil, err
	}
	s.mu.Lock()
	s.containers[r.ID] = c
	s.mu.Unlock()
	s.oom.add(r.ID, pid)
	s.publish(runtime.TaskCreateEventTopic, &eventstypes.TaskCreate{
		ContainerID: r.ID, Bundle: r.Bundle, Rootfs: r.Rootfs, Pid: uint32(pid), Checkpoint: r.Checkpoint,
		IO: &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	})
	return &taskapi.CreateTaskResponse{Pid: uint32(pid)}, nil
}

// Start starts a created container's program (runc start) or an exec
// process.
func (s *Service) Start(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	c, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.ExecID != "" {
		return s.startExec(c, p)
	}
	if _, st, _, _ := p.state(); st != task.Status_CREATED {
		return nil, fmt.Errorf("container %s is %s, not created: %w", c.id, st, errdefs.ErrFailedPrecondition)
	}
	if err := c.lc.Exec(); err != nil {
		return nil, fmt.Errorf("start container %s: %w", c.id, err)
	}
	p.setStatus(task.Status_RUNNING)
	pid, _, _, _ := p.state()
	s.publish(runtime.TaskStartEventTopic, &eventstypes.TaskStart{ContainerID: c.id, Pid: uint32(pid)})
	return &taskapi.StartResponse{Pid: uint32(pid)}, nil
}

// Delete deletes an exited process; for a container's init, the container
// with it (its cgroup, libcontainer's state and the rootfs mounts).
func (s *Service) Delete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	c, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	pid, st, status, at := p.state()
	if r.ExecID != "" {
		if st == task.Status_RUNNING {
			return nil, fmt.Errorf("exec %s of container %s is running: %w", r.ExecID, c.id, errdefs.ErrFailedPrecondition)
		}
		p.drainIO()
		p.closeIO()
		c.mu.Lock()
		delete(c.execs, r.ExecID)
		c.mu.Unlock()
		return &taskapi.DeleteResponse{Pid: uint32(pid), ExitStatus: status, ExitedAt: timestamp(at)}, nil
	}
	if st == task.Status_RUNNING || st == task.Status_PAUSED {
		return nil, fmt.Errorf("container %s is running: %w", c.id, errdefs.ErrFailedPrecondition)
	}
	if st == task.Status_CREATED {
		// Deleting a container that never started kills its init.
		c.lc.Signal(os.Kill)
		<-p.exited
		pid, _, status, at = p.state()
	}
	p.drainIO()
	if err := c.lc.Destroy(); err != nil {
		s.log.Warn("destroy container", "container", c.id, "error", err)
	}
	p.closeIO()
	c.mu.Lock()
	for _, e := range c.execs {
		e.closeIO()
	}
	c.mu.Unlock()
	if c.rootfsMounted {
		if err := unmountRootfs(c.bundle); err != nil {
			return nil, fmt.Errorf("unmount rootfs of container %s: %w", c.id, err)
		}
	}
	s.mu.Lock()
	delete(s.containers, c.id)
	s.mu.Unlock()
	s.publish(runtime.TaskDeleteEventTopic, &eventstypes.TaskDelete{
		ContainerID: c.id, Pid: uint32(pid), ExitStatus: status, ExitedAt: timestamp(at), ID: c.id,
	})
	return &taskapi.DeleteResponse{Pid: uint32(pid), ExitStatus: status, ExitedAt: timestamp(at)}, nil
}

// Shutdown ends the shim once it hosts no container (and, for a shim
// cricketd spawned for a pod, once the pod let it go: see Service.hold).
//
// containerd asks right after deleting a task, and may start the pod's
// next task at once (cricketd removing a pod's last container, then
// starting another): its start command must not find this shim, which is
// about to exit under the new task's Create ("ttrpc: closed"). So the
// socket is unlinked before Shutdown answers (the listener keeps serving
// who is connected), and a Create that still reaches this shim is
// refused rather than cut off halfway.
func (s *Service) Shutdown(ctx context.Context, r *taskapi.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	if r.ID != "" && r.ID == s.hold {
		s.hold = ""
	}
	if (s.hold != "" || len(s.containers)+len(s.creating) > 0) && !r.Now {
		s.mu.Unlock()
		return &emptypb.Empty{}, nil
	}
	s.exiting = true
	s.mu.Unlock()
	s.log.Debug("shutdown: exiting", "id", r.ID, "now", r.Now)
	s.shutdownOnce.Do(func() {
		if s.socket != "" {
			if err := removeSocket(s.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("remove shim socket", "path", s.socket, "error", err)
			}
		}
		close(s.done)
	})
	return &emptypb.Empty{}, nil
}

// Connect tells containerd the shim's and the task's pids.
func (s *Service) Connect(ctx context.Context, r *taskapi.ConnectRequest) (*taskapi.ConnectResponse, error) {
	resp := &taskapi.ConnectResponse{ShimPid: shimPID}
	if c, err := s.container(r.ID); err == nil {
		pid, _, _, _ := c.init.state()
		resp.TaskPid = uint32(pid)
	}
	return resp, nil
}

// killRest kills what is left of a container whose init exited, before
// the exit is reported, as containerd's runc shim does. In a PID namespace
// of its own the kernel kills the rest with the init; in one it shares
// (the pod's, the host's) the init's children live on, holding the
// container's output open and its cgroup busy, until Delete. With SIGKILL,
// libcontainer signals every process of the container's cgroup when the
// container has no PID namespace of its own.
func (s *Service) killRest(c *container) {
	if c.lc.Config().Namespaces.IsPrivate(configs.NEWPID) {
		return
	}
	if err := c.lc.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		s.log.Warn("kill the rest of an exited container", "container", c.id, "error", err)
	}
}
