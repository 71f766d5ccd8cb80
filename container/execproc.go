package container

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/internal/ids"
	"github.com/cricket-cri/cricket/internal/taskerr"
)

// execKillWait bounds the SIGKILL that ExecSync sends when its deadline
// passes (a kill takes a few milliseconds), so that the call returns
// within about this of its deadline even if the shim is slow to answer;
// a kill cut short is sent again in the background.
const execKillWait = 100 * time.Millisecond

// execProc is a process that ExecSync runs in a container: its FIFOs, and
// its containerd process once created. Whatever becomes of the call,
// release kills the process if it may still run, deletes it and removes
// its FIFOs.
type execProc struct {
	m   *Manager
	c   *Container
	id  string
	dir string
	io  *stdio

	// Set by start, read once launched is closed.
	process client.Process           // nil until created
	exited  <-chan client.ExitStatus // nil until waited for
	started bool
	err     error
	// launched is closed when start returned.
	launched chan struct{}

	// killed is set once a SIGKILL was delivered (or found the process
	// gone): by ExecSync before release starts, or by release.
	killed bool
}

// launchExec creates a process in the container's task and starts it. It
// returns when the process has started or failed to, or when ctx is done
// first. The launch then goes on detached from the call, and the process
// is killed and deleted once it exists: its creation and start cannot be
// called back (containerd 1.6's shim starts a pod's execs one at a time,
// so under load a start waits long), and a start cut short by a
// cancellation could leave a process nobody tracks.
func (m *Manager) launchExec(ctx context.Context, c *Container, task client.Task, spec *specs.Process, stdout, stderr io.Writer) (*execProc, error) {
	p := &execProc{m: m, c: c, id: ids.New()[:16], launched: make(chan struct{})}
	p.dir = filepath.Join(c.Dir, "exec-"+p.id)
	var err error
	if p.io, err = openStdio(p.dir, false, false); err != nil {
		removeStdio(p.dir)
		return nil, fmt.Errorf("exec in container %s: stdio: %w", c.ID, err)
	}
	p.io.copyTo(stdout, stderr)
	detached := context.WithoutCancel(ctx)
	go func() {
		defer close(p.launched)
		p.err = p.start(detached, task, spec)
	}()
	select {
	case <-p.launched:
		if p.err != nil {
			p.release(detached, false)
			return nil, p.err
		}
		return p, nil
	case <-ctx.Done():
		go func() {
			<-p.launched
			p.release(detached, false)
		}()
		return nil, ctx.Err()
	}
}

// start creates the process, subscribes to its exit and starts it.
func (p *execProc) start(ctx context.Context, task client.Task, spec *specs.Process) error {
	process, err := task.Exec(ctx, p.id, spec, p.io.creator())
	if err != nil {
		return execError(p.c, "exec in", err)
	}
	p.process = process
	if p.exited, err = process.Wait(ctx); err != nil {
		return execError(p.c, "wait for exec in", err)
	}
	if err := process.Start(ctx); err != nil {
		return execError(p.c, "start exec in", err)
	}
	p.started = true
	return nil
}

// execError describes a failed exec call. A task or process that is gone
// (see taskerr.Gone) means the container stopped running.
func execError(c *Container, what string, err error) error {
	if taskerr.Gone(err) {
		return fmt.Errorf("%s container %s: the container no longer runs (%v): %w", what, c.ID, err, errdefs.ErrFailedPrecondition)
	}
	return fmt.Errorf("%s container %s: %w", what, c.ID, err)
}

// kill sends the process SIGKILL, waiting at most wait for the shim's
// answer. It kills the exec's own process, as containerd's CRI does:
// children it left behind (a background job) are not signalled, as when
// it exits by itself.
func (p *execProc) kill(ctx context.Context, wait time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := p.process.Kill(ctx, syscall.SIGKILL)
	if err == nil || taskerr.Gone(err) {
		p.killed = true
		return
	}
	p.m.opts.Log.Warn("kill exec process", "container", p.c.ID, "exec", p.id, "error", err)
}

// release finishes with the process in the background. Unless its exit
// was seen, it is killed and its exit awaited: the shim refuses to delete
// a process it has not seen exit, and under a flood of execs containerd
// 1.6's shim reports exits only after the starts queued before them.
// Then it is deleted (the shim waits up to 2 s for the output of a process
// whose background child holds it), and its FIFOs are closed and removed.
// The container's task is not deleted during the deletion (see
// deleteExitedTask); one deleted before took the process with it.
func (p *execProc) release(ctx context.Context, exitSeen bool) {
	go func() {
		defer removeStdio(p.dir)
		defer p.io.close()
		if p.process == nil {
			return
		}
		var opts []client.ProcessDeleteOpts
		if p.started && !exitSeen {
			if !p.killed {
				p.kill(ctx, killTimeout)
			}
			if p.killed {
				p.awaitExit()
			} else {
				opts = append(opts, client.WithProcessKill) // one more try
			}
		}
		p.c.execCleanup.RLock()
		defer p.c.execCleanup.RUnlock()
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := p.process.Delete(ctx, opts...); err != nil && !taskerr.Gone(err) {
			p.m.opts.Log.Warn("delete exec process", "container", p.c.ID, "exec", p.id, "error", err)
		}
	}()
}

// awaitExit waits for a killed process's exit to be reported: the report
// comes (a SIGKILLed process exits; the wait also ends when the task or
// its shim goes away), if late.
func (p *execProc) awaitExit() {
	select {
	case <-p.exited:
		return
	case <-time.After(killTimeout):
	}
	p.m.opts.Log.Warn("exec process not reported exited after SIGKILL; still waiting", "container", p.c.ID, "exec", p.id, "waited", killTimeout)
	<-p.exited
}
