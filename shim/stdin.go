package shim

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/containerd/fifo"
)

// stdinCopy copies a process's stdin FIFO to the process (a pipe, or its
// terminal).
//
// The shim holds a write end of the FIFO besides its read end, as
// containerd's shims do, and CloseIO only drops that write end: the copy
// reads end of file once every writer (the shim's and cricketd's) is
// gone and what they wrote has been read. Closing the read end instead
// would drop input written just before CloseIO (still in the FIFO, or in
// the copy), and without a held write end a writer that goes away (an
// attach session that ends, cricketd restarting) would end the process's
// input for good.
type stdinCopy struct {
	fifo      io.ReadCloser  // read end
	hold      io.WriteCloser // write end held until CloseIO
	holdOnce  sync.Once
	closeOnce sync.Once
}

// openStdin opens both ends of a stdin FIFO. The opens complete in the
// background (each waits for the other side): the FIFO's writers may come
// later.
func openStdin(path string) (*stdinCopy, error) {
	r, err := fifo.OpenFifo(context.Background(), path, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open stdin fifo %s: %w", path, err)
	}
	w, err := fifo.OpenFifo(context.Background(), path, syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("open stdin fifo %s for writing: %w", path, err)
	}
	return &stdinCopy{fifo: r, hold: w}, nil
}

// start copies the FIFO into dst until its end (or an error writing dst,
// once the process is gone), then calls ended.
func (s *stdinCopy) start(dst io.Writer, ended func()) {
	go func() {
		io.Copy(dst, s.fifo)
		ended()
	}()
}

// closeInput is CloseIO: the input ends once the other writers are gone
// and what they wrote is copied.
func (s *stdinCopy) closeInput() {
	s.holdOnce.Do(func() { s.hold.Close() })
}

// close releases both ends: the process is deleted.
func (s *stdinCopy) close() {
	s.closeInput()
	s.closeOnce.Do(func() { s.fifo.Close() })
}
