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
	"golang.org/x/sys/unix"

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
	// attached receive the output too (kubectl attach).
	attached [2]broadcast

	closeStdinOnce sync.Once
	// closeRemote tells the shim to close its end too: the shim holds the
	// stdin FIFO open itself until told, so our close alone is no EOF.
	closeRemote func()
	done        chan struct{} // closed when output copying finished
}

func fifoPaths(dir string) (stdin, stdout, stderr string) {
	return filepath.Join(dir, "stdin"), filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
}

// openStdio creates (or reopens) the FIFOs of a container. They outlive
// the request that opens them, so their opening is not bound to it.
func openStdio(dir string, terminal, withStdin bool) (_ *stdio, retErr error) {
	ctx := context.Background()
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

// openExitedStdio reopens the output FIFOs of a container whose process
// exited while cricketd was away. The shim closes its ends when the
// process's output ends, so no writer may ever come back: a plain open
// would wait for one forever. These opens return at once, and the copy
// reads what the pipe still holds, if a writer still holds it (a copy the
// shim had blocked on a full pipe), then ends at end of file.
func openExitedStdio(dir string, terminal bool) (_ *stdio, retErr error) {
	s := &stdio{dir: dir, terminal: terminal, done: make(chan struct{})}
	defer func() {
		if retErr != nil {
			s.close()
		}
	}()
	_, out, errp := fifoPaths(dir)
	open := func(path string) (*os.File, error) {
		// Non-blocking, so that Close interrupts a read (the runtime
		// poller serves the file) and a pipe with no writer reads as
		// end of file.
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open fifo %s: %w", path, err)
		}
		return os.NewFile(uintptr(fd), path), nil
	}
	var err error
	if s.stdout, err = open(out); err != nil {
		return nil, err
	}
	if !terminal {
		if s.stderr, err = open(errp); err != nil {
			return nil, err
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
	drain := func(stream crilog.Stream, r io.Reader, b *broadcast) {
		defer wg.Done()
		r = io.TeeReader(r, b)
		if log != nil {
			log.Copy(stream, r)
		} else {
			io.Copy(io.Discard, r)
		}
		b.closeAll()
	}
	wg.Add(1)
	go drain(crilog.Stdout, s.stdout, &s.attached[0])
	if s.stderr != nil {
		wg.Add(1)
		go drain(crilog.Stderr, s.stderr, &s.attached[1])
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

// closeStdin closes the process's stdin (stdin_once, or exit).
func (s *stdio) closeStdin() {
	s.closeStdinOnce.Do(func() {
		if s.stdin != nil {
			s.stdin.Close()
			if s.closeRemote != nil {
				s.closeRemote()
			}
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

// broadcast hands a stream's output to attached clients. A client that
// cannot keep up or went away is dropped; the container never waits for a
// client beyond one write.
type broadcast struct {
	mu     sync.Mutex
	to     map[io.WriteCloser]chan struct{}
	closed bool
}

// add attaches w; the returned channel closes when w is detached (client
// gone or the output ended).
func (b *broadcast) add(w io.WriteCloser) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	done := make(chan struct{})
	if b.closed {
		close(done)
		return done
	}
	if b.to == nil {
		b.to = map[io.WriteCloser]chan struct{}{}
	}
	b.to[w] = done
	return done
}

// remove detaches w.
func (b *broadcast) remove(w io.WriteCloser) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if done, ok := b.to[w]; ok {
		close(done)
		delete(b.to, w)
	}
}

// Write copies p to every attached client, dropping those that fail. It
// never fails: the log copy must go on.
func (b *broadcast) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w, done := range b.to {
		if _, err := w.Write(p); err != nil {
			close(done)
			delete(b.to, w)
		}
	}
	return len(p), nil
}

// closeAll detaches everyone: the output has ended.
func (b *broadcast) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w, done := range b.to {
		close(done)
		delete(b.to, w)
	}
	b.closed = true
}
