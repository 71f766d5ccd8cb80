package shim

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
)

var killSignal = unix.SIGKILL

// Kill signals a process; with All, every process of the container.
func (s *Service) Kill(ctx context.Context, r *taskapi.KillRequest) (*emptypb.Empty, error) {
	c, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	sig := syscall.Signal(r.Signal)
	if _, st, _, _ := p.state(); st == task.Status_STOPPED {
		return nil, fmt.Errorf("process %s of container %s: process already finished: %w", p.id, c.id, errdefs.ErrNotFound)
	}
	switch {
	case r.ExecID != "":
		err = p.lp.Signal(sig)
	case r.All:
		err = signalAll(c, sig)
	default:
		err = c.lc.Signal(sig)
	}
	if errors.Is(err, libcontainer.ErrNotRunning) || errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("process %s of container %s: process already finished: %w", p.id, c.id, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("signal container %s: %w", c.id, err)
	}
	return &emptypb.Empty{}, nil
}

// signalAll signals every process in the container's cgroup.
func signalAll(c *container, sig syscall.Signal) error {
	pids, err := c.lc.Processes()
	if err != nil {
		return err
	}
	if sig == unix.SIGKILL {
		// libcontainer kills all of a container that shares a PID
		// namespace; in its own, killing its init kills the rest.
		if err := c.lc.Signal(sig); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return err
		}
	}
	for _, pid := range pids {
		unix.Kill(pid, sig)
	}
	return nil
}

// Wait waits for a process to exit.
func (s *Service) Wait(ctx context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	_, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	_, _, status, at := p.state()
	return &taskapi.WaitResponse{ExitStatus: status, ExitedAt: timestamp(at)}, nil
}

// State reports a process's state.
func (s *Service) State(ctx context.Context, r *taskapi.StateRequest) (*taskapi.StateResponse, error) {
	c, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	pid, st, status, at := p.state()
	if st != task.Status_STOPPED && r.ExecID == "" {
		if paused, _ := isPaused(c); paused {
			st = task.Status_PAUSED
		}
	}
	return &taskapi.StateResponse{
		ID: p.id, Bundle: c.bundle, Pid: uint32(pid), Status: st,
		Stdin: p.stdio.stdin, Stdout: p.stdio.stdout, Stderr: p.stdio.stderr, Terminal: p.stdio.terminal,
		ExitStatus: status, ExitedAt: timestamp(at), ExecID: r.ExecID,
	}, nil
}

// Pids lists the processes of a container.
func (s *Service) Pids(ctx context.Context, r *taskapi.PidsRequest) (*taskapi.PidsResponse, error) {
	c, err := s.container(r.ID)
	if err != nil {
		return nil, err
	}
	pids, err := c.lc.Processes()
	if err != nil {
		return nil, fmt.Errorf("processes of container %s: %w", c.id, err)
	}
	resp := &taskapi.PidsResponse{}
	for _, pid := range pids {
		resp.Processes = append(resp.Processes, &task.ProcessInfo{Pid: uint32(pid)})
	}
	return resp, nil
}

// CloseIO closes a process's stdin.
func (s *Service) CloseIO(ctx context.Context, r *taskapi.CloseIORequest) (*emptypb.Empty, error) {
	_, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.Stdin {
		switch {
		case p.io != nil:
			p.io.closeStdin()
		case p.tty != nil:
			p.tty.closeStdin()
		}
	}
	return &emptypb.Empty{}, nil
}

// ResizePty sets the size of a process's terminal.
func (s *Service) ResizePty(ctx context.Context, r *taskapi.ResizePtyRequest) (*emptypb.Empty, error) {
	_, p, err := s.lookup(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if p.tty == nil {
		return nil, fmt.Errorf("process %s has no terminal: %w", p.id, errdefs.ErrFailedPrecondition)
	}
	if err := p.tty.resize(r.Width, r.Height); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}
