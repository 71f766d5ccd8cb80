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
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// List returns the serving shims running now (none when /proc cannot be
// read: see Scan).
func List() []Shim {
	out, _ := Scan()
	return out
}

// Scan returns the serving shims running now, or why /proc could not be
// read. A process that exits while it is read is not an error.
func Scan() ([]Shim, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Shim
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // exited
		}
		if err != nil {
			return nil, err
		}
		if s, ok := Parse(pid, b); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// socketDir is where containerd's shims (runc's and cricket's, through
// containerd's shim package) create their sockets, whatever containerd's
// own state directory.
const socketDir = "/run/containerd/s"

// SocketPath is the socket of the shim that serves a group of tasks (a
// pod: the group annotation holds its ID) for a containerd and namespace:
// shims name it after a hash of the three, so that every start command of
// the group finds the running one there.
func SocketPath(containerdAddress, namespace, group string) string {
	sum := sha256.Sum256([]byte(filepath.Join(containerdAddress, namespace, group)))
	return filepath.Join(socketDir, fmt.Sprintf("%x", sum))
}

// RemoveDeadSocket removes a shim socket when nothing accepts connections
// on it (its shim died without removing it), and reports whether it did.
func RemoveDeadSocket(path string) bool {
	if _, err := os.Lstat(path); err != nil {
		return false
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return false
	}
	return os.Remove(path) == nil
}
