package ctrtask

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// handle is the client.Task that Create returns. The client's own handle
// can only be had from Container.Task, which asks containerd for the
// task's state first: a round trip to containerd and on to the shim that
// the life of most tasks never needs. What the paths of a pod's life use
// (start, signals, waits, execs and their clean-up, stdin) goes straight
// to containerd's task service, as the client would send it; the rest
// loads the client's handle once, on first use.
type handle struct {
	proc
	ctr client.Container

	mu     sync.Mutex
	loaded client.Task
}

var _ client.Task = (*handle)(nil)

func newHandle(ts tasks.TasksClient, ctr client.Container, pid uint32, io cio.IO) *handle {
	h := &handle{proc: proc{ts: ts, cid: ctr.ID(), io: io}, ctr: ctr}
	h.pid.Store(pid)
	return h
}

// full returns the client's handle of the task, loading it the first time.
func (h *handle) full(ctx context.Context) (client.Task, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.loaded == nil {
		// The client's handle takes over the task's stdio, if it has any.
		var attach cio.Attach
		if h.io != nil {
			attach = func(*cio.FIFOSet) (cio.IO, error) { return h.io, nil }
		}
		t, err := h.ctr.Task(ctx, attach)
		if err != nil {
			return nil, err
		}
		h.loaded = t
	}
	return h.loaded, nil
}

// Exec creates an exec process, as the client's Task.Exec does.
func (h *handle) Exec(ctx context.Context, id string, spec *specs.Process, ioCreate cio.Creator) (_ client.Process, retErr error) {
	if id == "" {
		return nil, fmt.Errorf("exec id must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	pspec, err := typeurl.MarshalAnyToProto(spec)
	if err != nil {
		return nil, err
	}
	io, err := ioCreate(id)
	if err != nil {
		return nil, err
	}
	cfg := io.Config()
	if _, err := h.ts.Exec(ctx, &tasks.ExecProcessRequest{
		ContainerID: h.cid, ExecID: id, Spec: pspec,
		Terminal: cfg.Terminal, Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr,
	}); err != nil {
		io.Cancel()
		io.Wait()
		io.Close()
		return nil, errgrpc.ToNative(err)
	}
	return &proc{ts: h.ts, cid: h.cid, execID: id, io: io}, nil
}

// Delete goes through the client's handle, which checks that the task
// has stopped first.
func (h *handle) Delete(ctx context.Context, opts ...client.ProcessDeleteOpts) (*client.ExitStatus, error) {
	t, err := h.full(ctx)
	if err != nil {
		return nil, err
	}
	return t.Delete(ctx, opts...)
}

func (h *handle) Pause(ctx context.Context) error {
	t, err := h.full(ctx)
	if err != nil {
		return err
	}
	return t.Pause(ctx)
}

func (h *handle) Resume(ctx context.Context) error {
	t, err := h.full(ctx)
	if err != nil {
		return err
	}
	return t.Resume(ctx)
}

func (h *handle) Pids(ctx context.Context) ([]client.ProcessInfo, error) {
	t, err := h.full(ctx)
	if err != nil {
		return nil, err
	}
	return t.Pids(ctx)
}

func (h *handle) Checkpoint(ctx context.Context, opts ...client.CheckpointTaskOpts) (client.Image, error) {
	t, err := h.full(ctx)
	if err != nil {
		return nil, err
	}
	return t.Checkpoint(ctx, opts...)
}

func (h *handle) Update(ctx context.Context, opts ...client.UpdateTaskOpts) error {
	t, err := h.full(ctx)
	if err != nil {
		return err
	}
	return t.Update(ctx, opts...)
}

func (h *handle) LoadProcess(ctx context.Context, id string, attach cio.Attach) (client.Process, error) {
	t, err := h.full(ctx)
	if err != nil {
		return nil, err
	}
	return t.LoadProcess(ctx, id, attach)
}

func (h *handle) Metrics(ctx context.Context) (*types.Metric, error) {
	t, err := h.full(ctx)
	if err != nil {
		return nil, err
	}
	return t.Metrics(ctx)
}

func (h *handle) Spec(ctx context.Context) (*oci.Spec, error) {
	t, err := h.full(ctx)
	if err != nil {
		return nil, err
	}
	return t.Spec(ctx)
}

// proc is a task's init process (execID empty) or an exec process, on
// containerd's task service: each method is the one call the client's
// handle would make.
type proc struct {
	ts          tasks.TasksClient
	cid, execID string
	io          cio.IO
	pid         atomic.Uint32
}

var _ client.Process = (*proc)(nil)

func (p *proc) ID() string {
	if p.execID != "" {
		return p.execID
	}
	return p.cid
}

func (p *proc) Pid() uint32 { return p.pid.Load() }

func (p *proc) IO() cio.IO { return p.io }

func (p *proc) Start(ctx context.Context) error {
	r, err := p.ts.Start(ctx, &tasks.StartRequest{ContainerID: p.cid, ExecID: p.execID})
	if err != nil {
		if p.io != nil {
			p.io.Cancel()
			p.io.Close()
		}
		return errgrpc.ToNative(err)
	}
	p.pid.Store(r.Pid)
	return nil
}

func (p *proc) Kill(ctx context.Context, s syscall.Signal, opts ...client.KillOpts) error {
	var i client.KillInfo
	for _, o := range opts {
		if err := o(ctx, &i); err != nil {
			return err
		}
	}
	execID := p.execID
	if execID == "" {
		execID = i.ExecID
	}
	_, err := p.ts.Kill(ctx, &tasks.KillRequest{ContainerID: p.cid, ExecID: execID, Signal: uint32(s), All: i.All})
	return errgrpc.ToNative(err)
}

// Wait reports the exit on the channel, as the client's Wait does (an
// error in the status if the wait failed).
func (p *proc) Wait(ctx context.Context) (<-chan client.ExitStatus, error) {
	c := make(chan client.ExitStatus, 1)
	go func() {
		defer close(c)
		r, err := p.ts.Wait(ctx, &tasks.WaitRequest{ContainerID: p.cid, ExecID: p.execID})
		if err != nil {
			c <- *client.NewExitStatus(client.UnknownExitStatus, time.Time{}, err)
			return
		}
		c <- *client.NewExitStatus(r.ExitStatus, protobuf.FromTimestamp(r.ExitedAt), nil)
	}()
	return c, nil
}

func (p *proc) CloseIO(ctx context.Context, opts ...client.IOCloserOpts) error {
	var i client.IOCloseInfo
	for _, o := range opts {
		o(&i)
	}
	_, err := p.ts.CloseIO(ctx, &tasks.CloseIORequest{ContainerID: p.cid, ExecID: p.execID, Stdin: i.Stdin})
	return errgrpc.ToNative(err)
}

func (p *proc) Resize(ctx context.Context, w, h uint32) error {
	_, err := p.ts.ResizePty(ctx, &tasks.ResizePtyRequest{ContainerID: p.cid, ExecID: p.execID, Width: w, Height: h})
	return errgrpc.ToNative(err)
}

func (p *proc) Status(ctx context.Context) (client.Status, error) {
	r, err := p.ts.Get(ctx, &tasks.GetRequest{ContainerID: p.cid, ExecID: p.execID})
	if err != nil {
		return client.Status{}, errgrpc.ToNative(err)
	}
	return client.Status{
		Status:     client.ProcessStatus(strings.ToLower(r.Process.Status.String())),
		ExitStatus: r.Process.ExitStatus,
		ExitTime:   protobuf.FromTimestamp(r.Process.ExitedAt),
	}, nil
}

// Delete deletes an exec process (a task's goes through handle.Delete)
// without asking for its state first: the shim refuses to delete a
// process that still runs. The options (client.WithProcessKill) run
// first, and the process's stdio is closed after, as the client does.
func (p *proc) Delete(ctx context.Context, opts ...client.ProcessDeleteOpts) (*client.ExitStatus, error) {
	for _, o := range opts {
		if err := o(ctx, p); err != nil {
			return nil, err
		}
	}
	r, err := p.ts.DeleteProcess(ctx, &tasks.DeleteProcessRequest{ContainerID: p.cid, ExecID: p.execID})
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	if p.io != nil {
		p.io.Cancel()
		p.io.Wait()
		p.io.Close()
	}
	return client.NewExitStatus(r.ExitStatus, protobuf.FromTimestamp(r.ExitedAt), nil), nil
}
