package shim

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/task"
	"github.com/opencontainers/runc/libcontainer"
)

// process is a container's init or one of its exec processes.
type process struct {
	id    string // exec ID; the container's ID for its init
	stdio stdioPaths
	lp    *libcontainer.Process
	io    *pipeIO
	tty   *console

	mu         sync.Mutex
	pid        int
	status     task.Status
	exitStatus uint32
	exitedAt   time.Time
	exited     chan struct{}
}

func newProcess(id string, stdio stdioPaths) *process {
	return &process{id: id, stdio: stdio, status: task.Status_CREATED, exited: make(chan struct{})}
}

// started records the pid of a process libcontainer started and waits for
// its exit in the background. reaped (if set) runs once it is reaped and
// before its exit shows (state, Wait); onExit once it shows. Call it
// while holding r.spawn for reading.
func (p *process) started(r *reaper, pid int, reaped func(), onExit func(*process)) {
	p.mu.Lock()
	p.pid = pid
	p.mu.Unlock()
	r.manage(pid)
	go func() {
		ps, err := p.lp.Wait()
		status := exitStatus(ps, err)
		r.reaped(pid)
		if reaped != nil {
			reaped()
		}
		p.mu.Lock()
		p.status, p.exitStatus, p.exitedAt = task.Status_STOPPED, status, time.Now()
		close(p.exited)
		p.mu.Unlock()
		onExit(p)
	}()
}

// exitStatus is the status containerd reports: the exit code, or 128 plus
// the number of the signal that killed the process.
func exitStatus(ps *os.ProcessState, err error) uint32 {
	if ps == nil {
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) && ee.ExitCode() >= 0 {
			return uint32(ee.ExitCode())
		}
		return 255
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + uint32(ws.Signal())
	}
	return uint32(ps.ExitCode())
}

// state is a consistent copy of the process's state.
func (p *process) state() (pid int, status task.Status, exitStatus uint32, exitedAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid, p.status, p.exitStatus, p.exitedAt
}

func (p *process) setStatus(s task.Status) {
	p.mu.Lock()
	if p.status != task.Status_STOPPED {
		p.status = s
	}
	p.mu.Unlock()
}

// ioDrainTimeout bounds how long Delete waits for a process's output to be
// copied into its FIFOs: a background child that inherited the output
// (sh -c 'sleep 100 &') would hold it open for as long as it lives.
const ioDrainTimeout = 2 * time.Second

// drainIO waits (bounded) until the process's output is in its FIFOs.
func (p *process) drainIO() {
	var done <-chan struct{}
	switch {
	case p.io != nil:
		done = p.io.outputsDone
	case p.tty != nil:
		done = p.tty.done
	default:
		return
	}
	select {
	case <-done:
	case <-time.After(ioDrainTimeout):
	}
}

// closeIO releases the process's streams.
func (p *process) closeIO() {
	if p.io != nil {
		p.io.close()
	}
	if p.tty != nil {
		p.tty.close()
	}
}
