package sandbox

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/errdefs"
	"github.com/prometheus/procfs"

	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/shimclient"
	"github.com/cricket-cri/cricket/internal/shimproc"
)

// killOrphanShims kills shim processes of cricket's namespace on its
// containerd that no known sandbox owns. containerd can lose track of a
// shim when the task creation that started it is cut off (cricketd killed
// mid-RunPodSandbox); nobody else would ever stop it. Runs during
// recovery, when no sandbox is being created.
//
// A shim is named (-id) after the first task it ran: a pause container's
// is the sandbox's ID, and so is the one startShim starts for a pinned
// sandbox. Once that one exited with the pod's last task (or when none
// was started ahead), containerd spawns the next for a container and
// names it after that container, which may be removed while the shim
// hosts the pod's other containers. So a shim is kept when its name is a
// known sandbox's, when it answers at a pinned sandbox's shim address
// (every shim of a pod listens there: the address derives from the
// group), when it is the parent of a task containerd lists, or when it is
// named after a container of a known sandbox. When containerd cannot say,
// nothing is killed: killing a shim kills the containers it hosts.
func (m *Manager) killOrphanShims(ctx context.Context, known map[string]bool) {
	owned, err := m.taskShimPIDs(ctx)
	if err != nil {
		m.opts.Log.Warn("cannot tell which shims host tasks; orphan shims stay until the next start", "error", err)
		return
	}
	for pid := range m.pinnedShimPIDs(ctx) {
		owned[pid] = true
	}
	m.killShims(func(pid int, id string) bool {
		if known[id] || owned[pid] {
			return false
		}
		// Named after a container of a known pod: it may host only exited
		// tasks (no process to find it by), whose exit statuses recovery
		// still has to read.
		c, err := m.client.LoadContainer(ctx, id)
		if err != nil {
			return errdefs.IsNotFound(err)
		}
		labels, err := c.Labels(ctx)
		return err == nil && !known[labels[LabelSandboxID]]
	})
}

// taskShimPIDs returns the process IDs of the shims that host the tasks
// containerd lists in cricket's namespace: a task's process is its shim's
// child.
func (m *Manager) taskShimPIDs(ctx context.Context) (map[int]bool, error) {
	resp, err := m.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, err
	}
	pids := map[int]bool{}
	for _, t := range resp.Tasks {
		if t.Pid == 0 {
			continue
		}
		if ppid := parentPID(int(t.Pid)); ppid > 1 {
			pids[ppid] = true
		}
	}
	return pids, nil
}

// parentPID is the parent of pid, or 0 when it is gone.
func parentPID(pid int) int {
	_, ppid, _ := procStat(pid)
	return ppid
}

// procStat reads a process's state letter and parent from /proc/<pid>/stat
// (procfs); ok is false when the process is gone.
func procStat(pid int) (state byte, ppid int, ok bool) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, 0, false
	}
	st, err := p.Stat()
	if err != nil || len(st.State) != 1 {
		return 0, 0, false
	}
	return st.State[0], st.PPID, true
}

// pinnedShimPIDs returns the process IDs of the shims that answer at the
// shim addresses of the known pinned sandboxes.
func (m *Manager) pinnedShimPIDs(ctx context.Context) map[int]bool {
	pids := map[int]bool{}
	for _, sb := range m.store.List(nil) {
		addr := sb.ShimAddress
		if addr == "" {
			continue
		}
		c, shim, err := shimclient.Dial(addr, time.Second)
		if err != nil {
			continue // no shim there: the pod has no container running
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := shim.Connect(cctx, &taskapi.ConnectRequest{ID: sb.ID})
		cancel()
		c.Close()
		if err == nil && r.ShimPid != 0 {
			pids[int(r.ShimPid)] = true
		}
	}
	return pids
}

// killSandboxShims kills the shims named after a sandbox: its pause
// container's, or the one started ahead of a pinned sandbox's containers.
func (m *Manager) killSandboxShims(id string) {
	m.killShims(func(_ int, shimID string) bool { return shimID == id })
}

// killShims kills the shims of cricket's namespace on its containerd that
// match, by process ID and -id (the first task's ID): runc's and cricket's
// own alike (see shimproc).
func (m *Manager) killShims(match func(pid int, id string) bool) {
	if m.opts.ContainerdAddress == "" {
		return
	}
	for _, s := range shimproc.List() {
		if s.Namespace != m.opts.Namespace || s.Address != m.opts.ContainerdAddress || !match(s.PID, s.ID) {
			continue
		}
		m.opts.Log.Warn("killing a shim no sandbox owns (left by an interrupted creation)", "pid", s.PID, "group", s.ID, "binary", s.Binary)
		killTree(s.PID)
	}
}

// removeDeadShimSocket removes the socket of a removed pod's shim when no
// shim listens on it any more: a shim that was killed (kill -9, the OOM
// killer, killShims) cannot remove its own, and containerd does not.
// Every shim of the pod listened there (the path derives from the pod's
// ID, its group); a live one keeps it and removes it when it exits.
func (m *Manager) removeDeadShimSocket(sb *Sandbox) {
	if m.opts.ContainerdAddress == "" {
		return
	}
	path := shimproc.SocketPath(m.opts.ContainerdAddress, m.opts.Namespace, sb.ID)
	if shimproc.RemoveDeadSocket(path) {
		m.opts.Log.Debug("removed the socket of the pod's dead shim", "sandbox", sb.ID, "path", path)
	}
}

// killTree SIGKILLs a process and its descendants, children first, and
// waits (bounded) until they are gone, so that their cgroups can be removed.
// A Go shim starts runc from any of its threads, so the children of every
// thread count.
func killTree(pid int) {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, c := range strings.Fields(string(b)) {
			if cpid, err := strconv.Atoi(c); err == nil {
				killTree(cpid)
			}
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitGone(pid, 5*time.Second)
}

// waitGone waits until pid has exited (or is a zombie, which has left its
// cgroup), at most for d, and reports whether it did.
func waitGone(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil || isZombie(pid) {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
	}
}

// isZombie reports whether pid has exited but is not reaped yet.
func isZombie(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state == 'Z'
}

// removeCgroup removes a cgroup left by a container that runc never
// deleted, in every hierarchy. Processes still in it (a runc init whose
// shim was killed) are killed first; removal is retried until the kernel
// has let them go, for a bounded time.
func removeCgroup(path string) {
	if path == "" || path == "/" {
		return
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cgroup.Kill(path, syscall.SIGKILL)
		left, err := cgroup.Remove(path)
		if (err == nil && len(left) == 0) || time.Now().After(deadline) {
			return
		}
	}
}
