// Package sigreset gives back the default action to signals a process
// inherited as ignored.
//
// An ignored signal stays ignored across fork and exec, and so passes from
// whatever started a daemon down to the containers it starts: a cricketd
// run under nohup, or a test run under make (GNU make here ignores the
// C library's internal signals 32 and 33), would start every container
// with those signals ignored. Go leaves such signals as it found them
// unless a handler is asked for, and has no call to reset one; this does
// it with rt_sigaction.
package sigreset

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigaction is the kernel's struct sigaction on Linux (amd64 and arm64).
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const sigIgn = 1

// Ignored returns the signals whose action is "ignore".
func Ignored() []unix.Signal {
	var out []unix.Signal
	for sig := unix.Signal(1); sig <= 64; sig++ {
		var old sigaction
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			continue
		}
		if old.handler == sigIgn {
			out = append(out, sig)
		}
	}
	return out
}

// Inherited sets every ignored signal except those in keep back to its
// default action, and returns the signals it reset. Call it early, before
// the process starts children; a signal reset here that arrives later
// takes its default action (for most: the process ends).
func Inherited(keep ...unix.Signal) []unix.Signal {
	var reset []unix.Signal
	for _, sig := range Ignored() {
		kept := false
		for _, k := range keep {
			kept = kept || k == sig
		}
		if kept {
			continue
		}
		dfl := sigaction{}
		if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0); e == 0 {
			reset = append(reset, sig)
		}
	}
	return reset
}
