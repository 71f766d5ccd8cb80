package shim

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// stdioPaths are the FIFOs containerd names for a process's streams (empty
// for a stream the process does not have).
type stdioPaths struct {
	stdin, stdout, stderr string
	terminal              bool
}

// pipeIO connects a process without a terminal to its FIFOs: the process
// writes into pipes the shim copies into the FIFOs (and copies stdin the
// other way), so that the process never depends on who reads the FIFOs.
//
// The shim keeps a read end of each output FIFO open until the process is
// deleted, not just until its output ends: the kernel drops what a pipe
// holds once nobody has it open, and the reader (cricketd) may be away
// when the process exits. What the process wrote stays in the pipe for
// the reader's return.
type pipeIO struct {
	// Ends the process gets; closed in the shim once it started.
	childIn, childOut, childErr *os.File

	stdinW      *os.File // the shim's end of the process's stdin
	stdin       *stdinCopy
	holders     []*os.File // read ends kept until delete
	copies      sync.WaitGroup
	outputsDone chan struct{}
}

// newPipeIO opens the FIFOs and makes the pipes. The FIFOs' other ends
// (cricketd's) are open already or reopen later.
func newPipeIO(p stdioPaths) (_ *pipeIO, retErr error) {
	pio := &pipeIO{outputsDone: make(chan struct{})}
	defer func() {
		if retErr != nil {
			pio.close()
		}
	}()
	if p.stdin != "" {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		pio.childIn, pio.stdinW = r, w
		if pio.stdin, err = openStdin(p.stdin); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		path  string
		child **os.File
	}{{p.stdout, &pio.childOut}, {p.stderr, &pio.childErr}} {
		if s.path == "" {
			continue
		}
		hold, fw, err := openOutputFIFO(s.path)
		if err != nil {
			return nil, err
		}
		pio.holders = append(pio.holders, hold)
		r, w, err := os.Pipe()
		if err != nil {
			fw.Close()
			return nil, err
		}
		*s.child = w
		pio.copies.Add(1)
		go func() {
			defer pio.copies.Done()
			io.Copy(fw, r)
			r.Close()
			fw.Close()
		}()
	}
	go func() { pio.copies.Wait(); close(pio.outputsDone) }()
	return pio, nil
}

// openOutputFIFO opens an output FIFO twice: a read end the shim only
// holds (so the pipe lives while the shim does) and the write end it
// copies into. With its own read end open, the write end opens at once,
// whether or not cricketd has its end open.
func openOutputFIFO(path string) (hold, w *os.File, err error) {
	hfd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open fifo %s: %w", path, err)
	}
	hold = os.NewFile(uintptr(hfd), path)
	wfd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		hold.Close()
		return nil, nil, fmt.Errorf("open fifo %s for writing: %w", path, err)
	}
	return hold, os.NewFile(uintptr(wfd), path), nil
}

// started closes the process's ends in the shim and starts copying stdin.
func (p *pipeIO) started() {
	for _, f := range []*os.File{p.childIn, p.childOut, p.childErr} {
		if f != nil {
			f.Close()
		}
	}
	if p.stdin != nil {
		// The end of the FIFO's input is the end of the process's.
		p.stdin.start(p.stdinW, func() { p.stdinW.Close() })
	}
}

// closeStdin is CloseIO: the process's input ends after what was written.
func (p *pipeIO) closeStdin() {
	if p.stdin != nil {
		p.stdin.closeInput()
	}
}

// close releases everything: the process was deleted.
func (p *pipeIO) close() {
	if p.stdin != nil {
		p.stdin.close()
	}
	for _, f := range []*os.File{p.childIn, p.childOut, p.childErr, p.stdinW} {
		if f != nil {
			f.Close()
		}
	}
	for _, h := range p.holders {
		h.Close()
	}
}
