package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/fifo"

	"github.com/cricket-cri/cricket/crilog"
)

// stdio is a container's standard streams: FIFOs in the container's
// directory that the shim writes the process's output into (and reads its
// stdin from). cricket holds the other ends. The paths are fixed, so a
// restarted cricketd reopens the same FIFOs and resumes copying; while it is
// away, output waits in the pipe.
type stdio struct {
	dir      string
	terminal bool
	stdin    io.WriteCloser // nil unless the container has stdin
	stdout   io.ReadCloser
	stderr   io.ReadCloser // nil with a terminal
	log      *crilog.File  // nil when output is discarded

	closeStdinOnce sync.Once
	done           chan struct{} // closed when output copying finished
}

func fifoPaths(dir string) (stdin, stdout, stderr string) {
	return filepath.Join(dir, "stdin"), filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
}

// openStdio creates (or reopens) the FIFOs of a container.
func openStdio(ctx context.Context, dir string, terminal, withStdin bool) (_ *stdio, retErr error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &stdio{dir: dir, terminal: terminal, done: make(chan struct{})}
	defer func() {
		if retErr != nil {
			s.close()
		}
	}()
	in, out, errp := fifoPaths(dir)
	var err error
	// O_NONBLOCK: return at once even though the shim has not opened its
	// ends yet; reads and writes connect when it does.
	if s.stdout, err = fifo.OpenFifo(ctx, out, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600); err != nil {
		return nil, fmt.Errorf("open stdout fifo: %w", err)
	}
	if !terminal {
		if s.stderr, err = fifo.OpenFifo(ctx, errp, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600); err != nil {
			return nil, fmt.Errorf("open stderr fifo: %w", err)
		}
	}
	if withStdin {
		if s.stdin, err = fifo.OpenFifo(ctx, in, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600); err != nil {
			return nil, fmt.Errorf("open stdin fifo: %w", err)
		}
	}
	return s, nil
}

// config tells the shim where the FIFOs are.
func (s *stdio) config() cio.Config {
	in, out, errp := fifoPaths(s.dir)
	c := cio.Config{Terminal: s.terminal, Stdout: out}
	if s.stdin != nil {
		c.Stdin = in
	}
	if !s.terminal {
		c.Stderr = errp
	}
	return c
}

// creator hands the FIFOs to containerd's task creation; cricket, not
// containerd's client, owns and copies them.
func (s *stdio) creator() cio.Creator {
	return func(string) (cio.IO, error) { return taskIO{s.config()}, nil }
}

// attacher does the same when loading the task of a running container.
func (s *stdio) attacher() cio.Attach {
	return func(*cio.FIFOSet) (cio.IO, error) { return taskIO{s.config()}, nil }
}

// copy copies the output into log (or discards it when log is nil) until
// the shim closes its ends, then closes log and marks the copy done.
func (s *stdio) copy(log *crilog.File) {
	s.log = log
	var wg sync.WaitGroup
	drain := func(stream crilog.Stream, r io.Reader) {
		defer wg.Done()
		if log != nil {
			log.Copy(stream, r)
		} else {
			io.Copy(io.Discard, r)
		}
	}
	wg.Add(1)
	go drain(crilog.Stdout, s.stdout)
	if s.stderr != nil {
		wg.Add(1)
		go drain(crilog.Stderr, s.stderr)
	}
	go func() {
		wg.Wait()
		if log != nil {
			log.Close()
		}
		close(s.done)
	}()
}

// copyTo copies the output into writers (an exec's buffers) until the shim
// closes its ends.
func (s *stdio) copyTo(stdout, stderr io.Writer) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); io.Copy(stdout, s.stdout) }()
	if s.stderr != nil {
		wg.Add(1)
		go func() { defer wg.Done(); io.Copy(stderr, s.stderr) }()
	}
	go func() { wg.Wait(); close(s.done) }()
}

// wait waits up to timeout for the output to be drained.
func (s *stdio) wait(timeout time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// closeStdin closes the container's stdin (stdin_once, or exit).
func (s *stdio) closeStdin() {
	s.closeStdinOnce.Do(func() {
		if s.stdin != nil {
			s.stdin.Close()
		}
	})
}

// close closes cricket's ends of all FIFOs, ending any copy.
func (s *stdio) close() {
	s.closeStdin()
	if s.stdout != nil {
		s.stdout.Close()
	}
	if s.stderr != nil {
		s.stderr.Close()
	}
}

// remove deletes the FIFOs' directory.
func removeStdio(dir string) error { return os.RemoveAll(dir) }

// taskIO is the cio.IO containerd's client wants; the FIFOs themselves are
// managed by stdio.
type taskIO struct{ cfg cio.Config }

func (t taskIO) Config() cio.Config { return t.cfg }
func (taskIO) Cancel()              {}
func (taskIO) Wait()                {}
func (taskIO) Close() error         { return nil }
