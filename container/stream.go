package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/internal/ids"
)

// TerminalSize is a terminal's size (kubectl's resize events).
type TerminalSize struct{ Width, Height uint16 }

// Streams are an interactive client's ends (kubectl exec/attach through the
// streaming server). Nil members are not wanted by the client.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.WriteCloser
	TTY            bool
	Resize         <-chan TerminalSize
}

// Exec runs cmd in a running container connected to the client's streams
// and returns its exit code. The process is killed when the client goes
// away: its output cannot be delivered, or (with a terminal) its input
// ends. Without a terminal, the end of the client's input is the end of
// the process's stdin.
func (m *Manager) Exec(ctx context.Context, id string, cmd []string, s Streams) (int, error) {
	if len(cmd) == 0 {
		return 0, fmt.Errorf("exec command is empty: %w", errdefs.ErrInvalidArgument)
	}
	c, err := m.store.Get(id)
	if err != nil {
		return 0, err
	}
	if st := c.Status(); st.State != StateRunning {
		return 0, fmt.Errorf("container %s is %s, not running: %w", c.ID, st.State, errdefs.ErrFailedPrecondition)
	}
	ctx = m.ctx(ctx)
	ctr, err := m.client.LoadContainer(ctx, c.ID)
	if err != nil {
		return 0, err
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return 0, err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	pspec := *spec.Process
	pspec.Args, pspec.Terminal = cmd, s.TTY

	execID := ids.New()[:16]
	dir := filepath.Join(c.Dir, "exec-"+execID)
	sio, err := openStdio(dir, s.TTY, s.Stdin != nil)
	if err != nil {
		return 0, err
	}
	defer removeStdio(dir)
	defer sio.close()

	cleanupCtx := context.WithoutCancel(ctx)
	process, err := task.Exec(ctx, execID, &pspec, sio.creator())
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	defer process.Delete(cleanupCtx, client.WithProcessKill)
	exited, err := process.Wait(cleanupCtx)
	if err != nil {
		return 0, err
	}
	sio.closeRemote = func() { process.CloseIO(cleanupCtx, client.WithStdinCloser) }

	gone := make(chan struct{}) // the client went away
	var goneOnce sync.Once
	clientGone := func() { goneOnce.Do(func() { close(gone) }) }
	outputDone := pump(sio, s.Stdout, s.Stderr, clientGone)
	if err := process.Start(ctx); err != nil {
		return 0, fmt.Errorf("start exec in container %s: %w", c.ID, err)
	}
	if s.Stdin != nil {
		go func() {
			_, err := copyInput(sio.stdin, s.Stdin)
			if s.TTY || !errors.Is(err, io.EOF) {
				clientGone()
				return
			}
			sio.closeStdin()
		}()
	}
	if s.Resize != nil {
		go func() {
			for sz := range s.Resize {
				process.Resize(cleanupCtx, uint32(sz.Width), uint32(sz.Height))
			}
		}()
	}
	select {
	case st := <-exited:
		sio.wait(outputDrainTimeout)
		sio.close()
		<-outputDone
		return int(st.ExitCode()), nil
	case <-gone:
	case <-ctx.Done():
	}
	m.killExec(cleanupCtx, process, exited)
	return 0, fmt.Errorf("exec in container %s: client went away; process killed: %w", c.ID, errdefs.ErrAborted)
}

// Attach connects the client to a running container's stdio until the
// container exits or the client goes away. Closing the client's input
// closes the container's stdin if the container asked for stdin_once.
func (m *Manager) Attach(ctx context.Context, id string, s Streams) error {
	c, err := m.store.Get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	state, cio := c.status.State, c.io
	exited := c.exited
	c.mu.Unlock()
	if state != StateRunning || cio == nil {
		return fmt.Errorf("container %s is %s, not running: %w", c.ID, state, errdefs.ErrFailedPrecondition)
	}
	if s.TTY != c.Config.GetTty() {
		return fmt.Errorf("attach with tty=%v to container %s started with tty=%v: %w", s.TTY, c.ID, c.Config.GetTty(), errdefs.ErrInvalidArgument)
	}
	var detached []<-chan struct{}
	if s.Stdout != nil {
		detached = append(detached, cio.attached[0].add(s.Stdout))
		defer cio.attached[0].remove(s.Stdout)
	}
	if s.Stderr != nil && cio.stderr != nil {
		detached = append(detached, cio.attached[1].add(s.Stderr))
		defer cio.attached[1].remove(s.Stderr)
	}
	inputDone := make(chan struct{})
	if s.Stdin != nil && cio.stdin != nil {
		go func() {
			defer close(inputDone)
			copyInput(cio.stdin, s.Stdin)
			if c.Config.GetStdinOnce() {
				cio.closeStdin()
			}
		}()
	}
	if s.Resize != nil {
		go func() {
			rctx := m.ctx(context.WithoutCancel(ctx))
			for sz := range s.Resize {
				if ctr, err := m.client.LoadContainer(rctx, c.ID); err == nil {
					if task, err := ctr.Task(rctx, nil); err == nil {
						task.Resize(rctx, uint32(sz.Width), uint32(sz.Height))
					}
				}
			}
		}()
	}
	// Done when the container exits (its output drained), or when every
	// output the client asked for is detached (it went away).
	outputsGone := make(chan struct{})
	go func() {
		for _, d := range detached {
			<-d
		}
		if len(detached) > 0 {
			close(outputsGone)
		}
	}()
	select {
	case <-exited:
	case <-outputsGone:
	case <-ctx.Done():
	}
	return nil
}

// pump copies an exec's output to the client; a failed write means the
// client is gone. The returned channel closes when both streams ended.
func pump(s *stdio, stdout, stderr io.Writer, clientGone func()) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	copyOut := func(dst io.Writer, src io.Reader) {
		defer wg.Done()
		if dst == nil {
			dst = io.Discard
		}
		if _, err := copyOutput(dst, src); err != nil {
			clientGone()
		}
	}
	wg.Add(1)
	go copyOut(stdout, s.stdout)
	if s.stderr != nil {
		wg.Add(1)
		go copyOut(stderr, s.stderr)
	}
	go func() { wg.Wait(); close(s.done); close(done) }()
	return done
}

// copyOutput copies until src ends; only write errors are reported (a read
// error is our FIFO being closed).
func copyOutput(dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		r, rerr := src.Read(buf)
		if r > 0 {
			w, werr := dst.Write(buf[:r])
			n += int64(w)
			if werr != nil {
				return n, werr
			}
		}
		if rerr != nil {
			return n, nil
		}
	}
}

// copyInput copies the client's input into a FIFO; io.EOF is a clean end.
func copyInput(dst io.Writer, src io.Reader) (int64, error) {
	n, err := io.Copy(dst, src)
	if errors.Is(err, syscall.EPIPE) {
		err = nil // the process closed its stdin
	}
	if err == nil {
		err = io.EOF
	}
	return n, err
}
