// Package shimproc finds containerd runtime v2 shim processes by their
// command lines: what sandbox recovery kills when no pod owns a shim, and
// what the test rig's leak census counts. containerd's runc shim
// (containerd-shim-runc-v2) and cricket's own (containerd-shim-cricket-v1)
// are both started as "<binary> -namespace NS -id ID -address ADDR ...",
// which is how a serving shim is told from the short-lived "start" and
// "delete" commands containerd runs with the same binary, and from
// cricket's shim re-executed as a container's init ("<binary> init").
package shimproc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Shim is a serving shim process.
type Shim struct {
	PID       int
	Binary    string // base name of the executable, e.g. containerd-shim-cricket-v1
	Namespace string // containerd namespace
	Address   string // containerd's gRPC address
	ID        string // -id: the task it was started for (a pod's first)
}

// Parse reads a /proc/<pid>/cmdline; ok is false unless it is a serving
// shim. Any containerd-shim-* binary counts: a handler may name another
// runtime type, and its shims are cricket's to collect all the same.
func Parse(pid int, cmdline []byte) (s Shim, ok bool) {
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 {
		return Shim{}, false
	}
	s = Shim{PID: pid, Binary: filepath.Base(args[0])}
	if !strings.HasPrefix(s.Binary, "containerd-shim") {
		return Shim{}, false
	}
	switch args[len(args)-1] {
	case "start", "delete", "init":
		return Shim{}, false // a command of containerd's or a container's init
	}
	for i := 1; i+1 < len(args); i++ {
		switch args[i] {
		case "-namespace", "--namespace":
			s.Namespace = args[i+1]
		case "-address", "--address":
			s.Address = args[i+1]
		case "-id", "--id":
			s.ID = args[i+1]
		}
	}
	return s, s.Namespace != ""
}

// List returns the serving shims running now.
func List() []Shim {
	ents, _ := os.ReadDir("/proc")
	var out []Shim
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if s, ok := Parse(pid, b); ok {
			out = append(out, s)
		}
	}
	return out
}
