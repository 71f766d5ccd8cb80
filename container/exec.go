package container

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/internal/steps"
	"github.com/cricket-cri/cricket/internal/taskerr"
)

// ExecSyncOutputLimit caps stdout and stderr together: kubelet receives
// CRI messages of at most 16 MiB, and the reply needs a little room.
const ExecSyncOutputLimit = 16<<20 - 4<<10

// ExecResult is what ExecSync returns.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int32
}

// errExecTimeout is the cause of an ExecSync context whose timeout passed
// (rather than the caller's deadline or cancellation).
var errExecTimeout = errors.New("exec timeout")

// ExecSync runs cmd in a running container and waits for it.
//
// The timeout covers the whole call, from its start: under load, starting
// the process can take longer than running it. When it passes (or the
// caller goes away), the call returns at once: a process still starting is
// killed and deleted once it exists; a running one is sent SIGKILL before
// the call returns and deleted afterwards. The call then fails with
// DeadlineExceeded (Canceled) and no output: a command that did not finish
// in time has no result. A command that exits in time gets its exit code
// and the output read by the deadline: a background child holding its
// output open holds the call at most until then (or outputDrainTimeout,
// without a timeout).
func (m *Manager) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*ExecResult, error) {
	if err := validateExecCmd(cmd); err != nil {
		return nil, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errExecTimeout)
		defer cancel()
	}
	c, err := m.store.Get(id)
	if err != nil {
		return nil, err
	}
	if st := c.Status(); st.State != StateRunning {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	ctx = m.ctx(ctx)
	failed := func(err error) error {
		if ctx.Err() == nil {
			return err
		}
		if context.Cause(ctx) == errExecTimeout {
			return fmt.Errorf("command %s in container %s timed out after %s: %w", describeCmd(cmd), c.ID, timeout, context.DeadlineExceeded)
		}
		return fmt.Errorf("command %s in container %s: %w", describeCmd(cmd), c.ID, ctx.Err())
	}
	t := steps.Start("ExecSync")
	defer t.Done(m.opts.Log, "container", c.ID)
	proc, err := m.processSpec(ctx, c)
	if err != nil {
		return nil, failed(err)
	}
	t.Step("spec")
	task, err := m.containerdTask(ctx, c)
	if taskerr.Gone(err) {
		return nil, failed(fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrFailedPrecondition))
	}
	if err != nil {
		return nil, failed(err)
	}
	t.Step("task")
	pspec := *proc
	pspec.Args, pspec.Terminal = cmd, false
	budget := &outputBudget{left: ExecSyncOutputLimit}
	stdout, stderr := &cappedBuffer{budget: budget}, &cappedBuffer{budget: budget}
	p, err := m.launchExec(ctx, c, task, &pspec, stdout, stderr)
	if err != nil {
		return nil, failed(err)
	}
	t.Step("start")
	var code int32
	select {
	case st := <-p.exited:
		if err := st.Error(); err != nil {
			p.release(context.WithoutCancel(ctx), true)
			return nil, failed(execError(c, "wait for exec in", err))
		}
		code = int32(st.ExitCode())
	case <-ctx.Done():
		p.kill(context.WithoutCancel(ctx), execKillWait)
		p.release(context.WithoutCancel(ctx), false)
		return nil, failed(ctx.Err())
	}
	t.Step("exited")
	drain := outputDrainTimeout
	if dl, ok := ctx.Deadline(); ok {
		drain = min(drain, time.Until(dl))
	}
	p.io.wait(drain)
	p.io.close()
	<-p.io.done
	// Released after the drain: the release closes the FIFOs.
	p.release(context.WithoutCancel(ctx), true)
	t.Step("drain")
	return &ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, nil
}

// processSpec returns the container's OCI process spec: the one kept from
// its creation (or last update), else read from containerd.
func (m *Manager) processSpec(ctx context.Context, c *Container) (*specs.Process, error) {
	c.mu.Lock()
	p := c.process
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	ctr, err := m.containerd(ctx, c)
	if err != nil {
		return nil, err
	}
	s, err := ctr.Spec(ctx)
	if err != nil {
		return nil, err
	}
	if s.Process == nil {
		return nil, fmt.Errorf("container %s has no process spec: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	c.mu.Lock()
	c.process = s.Process
	c.mu.Unlock()
	return s.Process, nil
}

// killExec kills an exec'd process and waits until it is gone.
func (m *Manager) killExec(ctx context.Context, p client.Process, exited <-chan client.ExitStatus) {
	if err := p.Kill(ctx, syscall.SIGKILL); err != nil && !taskerr.Gone(err) {
		m.opts.Log.Warn("kill exec process", "error", err)
	}
	select {
	case <-exited:
	case <-time.After(killTimeout):
	}
}

// outputBudget is the room left for an exec's output, shared by its
// streams.
type outputBudget struct {
	mu   sync.Mutex
	left int
}

func (o *outputBudget) take(n int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n = min(n, o.left)
	o.left -= n
	return n
}

// cappedBuffer keeps what fits in its budget and drops the rest, never
// failing a write (the process must not block on a full pipe).
type cappedBuffer struct {
	mu     sync.Mutex
	buf    []byte
	budget *outputBudget
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p[:b.budget.take(len(p))]...)
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf
}
