package shim

import (
	"os"
	"os/signal"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reaper collects the shim's children that nobody else waits for. The
// shim is a child subreaper, as containerd's shims are: a container's init
// and its exec processes are reparented to it when libcontainer's helper
// stages exit, and each is waited for by the goroutine that started it
// (process.waitExit). What else ends up here (libcontainer's intermediate
// stage, orphans of a container that shares the host's PID namespace)
// would stay a zombie; the reaper waits for those.
//
// A pid that libcontainer is still about to wait for itself must not be
// taken from it: libcontainer operations that start processes hold spawn
// for reading, and the reaper holds it for writing while it looks.
type reaper struct {
	spawn sync.RWMutex

	mu      sync.Mutex
	managed map[int]bool // pids waited for by their own goroutine

	kick chan struct{}
}

func newReaper() *reaper {
	r := &reaper{managed: map[int]bool{}, kick: make(chan struct{}, 1)}
	go r.run()
	return r
}

// manage marks pid as waited for by its own goroutine. Call it while
// holding spawn for reading, before that goroutine may have reaped it.
func (r *reaper) manage(pid int) {
	r.mu.Lock()
	r.managed[pid] = true
	r.mu.Unlock()
}

// reaped forgets a pid its goroutine has waited for, and lets the reaper
// look again: a managed zombie hides the zombies behind it.
func (r *reaper) reaped(pid int) {
	r.mu.Lock()
	delete(r.managed, pid)
	r.mu.Unlock()
	r.poke()
}

func (r *reaper) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *reaper) run() {
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, unix.SIGCHLD)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-sigs:
		case <-r.kick:
		case <-tick.C:
		}
		r.reapOrphans()
	}
}

// reapOrphans waits for exited children that no goroutine waits for.
func (r *reaper) reapOrphans() {
	r.spawn.Lock()
	defer r.spawn.Unlock()
	for {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
			return
		}
		pid := siginfoPID(&info)
		if pid == 0 {
			return // no zombie
		}
		r.mu.Lock()
		managed := r.managed[pid]
		r.mu.Unlock()
		if managed {
			return // its goroutine reaps it, then pokes
		}
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

// siginfoPID is si_pid of a siginfo_t for SIGCHLD: the first int32 after
// si_signo, si_errno and si_code and their padding on 64-bit Linux.
func siginfoPID(info *unix.Siginfo) int {
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), 16)))
}
