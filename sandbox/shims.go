package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killOrphanShims kills shim processes of cricket's namespace on its
// containerd whose group (sandbox) cricket does not know. containerd can
// lose track of a shim when the task creation that started it is cut off
// (cricketd killed mid-RunPodSandbox); nobody else would ever stop it.
// Runs during recovery, when no sandbox is being created.
func (m *Manager) killOrphanShims(known map[string]bool) {
	m.killShims(func(group string) bool { return !known[group] })
}

// killShims kills the shims of cricket's namespace whose group matches.
func (m *Manager) killShims(match func(group string) bool) {
	if m.opts.ContainerdAddress == "" {
		return
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		if last := args[len(args)-1]; last == "delete" || last == "start" {
			continue // containerd cleaning up or starting a shim, not a shim
		}
		flags := map[string]string{}
		for i := 0; i+1 < len(args); i++ {
			if strings.HasPrefix(args[i], "-") {
				flags[args[i]] = args[i+1]
			}
		}
		if flags["-namespace"] != m.opts.Namespace || flags["-address"] != m.opts.ContainerdAddress || !match(flags["-id"]) {
			continue
		}
		m.opts.Log.Warn("killing a shim no sandbox owns (left by an interrupted creation)", "pid", pid, "group", flags["-id"])
		killTree(pid)
	}
}

// killTree SIGKILLs a process and its descendants, children first, and
// waits (bounded) until they are gone, so that their cgroups can be removed.
func killTree(pid int) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, c := range strings.Fields(string(b)) {
		if cpid, err := strconv.Atoi(c); err == nil {
			killTree(cpid)
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return // gone, or a zombie (no longer in its cgroup)
		}
	}
}

// removeCgroup removes a cgroup left by a process that runc never deleted
// (its processes are gone), in every hierarchy.
func removeCgroup(path string) {
	if path == "" || path == "/" {
		return
	}
	ctrls, _ := os.ReadDir("/sys/fs/cgroup")
	for _, c := range ctrls {
		os.Remove(filepath.Join("/sys/fs/cgroup", c.Name(), path))
	}
	os.Remove(filepath.Join("/sys/fs/cgroup", path)) // cgroup v2
}
