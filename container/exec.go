package container

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/internal/steps"
)

// ExecSyncOutputLimit caps stdout and stderr together: kubelet receives
// CRI messages of at most 16 MiB, and the reply needs a little room.
const ExecSyncOutputLimit = 16<<20 - 4<<10

// ExecResult is what ExecSync returns.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int32
}

// ExecSync runs cmd in a running container and waits for it. With a
// timeout, a command still running when it passes is killed (and gone when
// ExecSync returns) and the call fails with DeadlineExceeded. Output held
// open by a background child does not keep the call waiting.
func (m *Manager) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (*ExecResult, error) {
	if len(cmd) == 0 {
		return nil, fmt.Errorf("exec command is empty: %w", errdefs.ErrInvalidArgument)
	}
	c, err := m.store.Get(id)
	if err != nil {
		return nil, err
	}
	if st := c.Status(); st.State != StateRunning {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	ctx = m.ctx(ctx)
	t := steps.Start("ExecSync")
	defer t.Done(m.opts.Log, "container", c.ID)
	proc, err := m.processSpec(ctx, c)
	if err != nil {
		return nil, err
	}
	t.Step("spec")
	task, err := m.containerdTask(ctx, c)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	if err != nil {
		return nil, err
	}
	t.Step("task")
	pspec := *proc
	pspec.Args, pspec.Terminal = cmd, false

	execID := newID()[:16]
	dir := filepath.Join(c.Dir, "exec-"+execID)
	io, err := openStdio(dir, false, false)
	if err != nil {
		return nil, err
	}
	defer removeStdio(dir)
	defer io.close()
	budget := &outputBudget{left: ExecSyncOutputLimit}
	stdout, stderr := &cappedBuffer{budget: budget}, &cappedBuffer{budget: budget}
	io.copyTo(stdout, stderr)
	t.Step("stdio")

	// The exec must be cleaned up even if our caller is gone.
	cleanupCtx := context.WithoutCancel(ctx)
	process, err := task.Exec(ctx, execID, &pspec, io.creator())
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	t.Step("exec")
	exitSeen := false
	defer func() {
		if !exitSeen {
			process.Delete(cleanupCtx, client.WithProcessKill)
			return
		}
		// A process seen exiting needs no kill, and its deletion need not
		// hold up the reply; the container's task is not deleted before
		// it is done (see deleteExitedTask).
		c.execCleanup.RLock()
		go func() {
			defer c.execCleanup.RUnlock()
			ctx, cancel := context.WithTimeout(cleanupCtx, time.Minute)
			defer cancel()
			if _, err := process.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
				m.opts.Log.Warn("delete exec process", "container", c.ID, "exec", execID, "error", err)
			}
		}()
	}()
	exited, err := process.Wait(cleanupCtx)
	if err != nil {
		return nil, err
	}
	t.Step("wait")
	if err := process.Start(ctx); err != nil {
		return nil, fmt.Errorf("start exec in container %s: %w", c.ID, err)
	}
	t.Step("start")

	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	var code int32
	select {
	case st := <-exited:
		code, exitSeen = int32(st.ExitCode()), true
	case <-deadline:
		m.killExec(cleanupCtx, process, exited)
		return nil, fmt.Errorf("command %q in container %s timed out after %s: %w", cmd, c.ID, timeout, context.DeadlineExceeded)
	case <-ctx.Done():
		m.killExec(cleanupCtx, process, exited)
		return nil, ctx.Err()
	}
	t.Step("exited")
	io.wait(outputDrainTimeout)
	io.close()
	<-io.done
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
	if err := p.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
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
