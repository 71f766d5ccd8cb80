package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// deadlineMargin is how late past its timeout an ExecSync may return: the
// call is due at the deadline, and the machine is shared.
const deadlineMargin = 500 * time.Millisecond

// execContainer runs a pod on a runtime handler with a long-running
// container for execs.
func execContainer(t *testing.T, handler, name string) (*testrig.Daemon, string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	podID, pod := podWithLogsOn(t, d, handler, name)
	return d, runContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))
}

// timedExec runs ExecSync with a timeout in seconds and reports how long
// it took.
func timedExec(ctx context.Context, d *testrig.Daemon, id string, timeout int64, cmd ...string) (*runtime.ExecSyncResponse, time.Duration, error) {
	start := time.Now()
	resp, err := d.Runtime.ExecSync(ctx, &runtime.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: timeout})
	return resp, time.Since(start), err
}

// execDirs lists the FIFO directories of a container's execs still being
// cleaned up (cricketd removes one once its process is deleted).
func execDirs(t *testing.T, d *testrig.Daemon, id string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(d.Config.State, "containers", id))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "exec-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// processesRunning lists the processes of the container whose command line
// is exactly args.
func processesRunning(t *testing.T, d *testrig.Daemon, id, args string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(execOut(t, d, id, "ps", "-o", "pid,args"), "\n") {
		if f := strings.SplitN(strings.TrimSpace(l), " ", 2); len(f) == 2 && strings.TrimSpace(f[1]) == args {
			out = append(out, l)
		}
	}
	return out
}

// TestExecSyncDeadlineCoversStart: the timeout counts from the call, not
// from the process's start, which under load can take tens of seconds
// (containerd 1.6's shim starts a pod's execs one at a time). The pod's
// shim is stopped (SIGSTOP) to hold the exec before its start for as long
// as the test wants. The call returns DeadlineExceeded at its deadline;
// once the shim goes on, the exec that then starts is killed and its
// containerd process deleted: nothing of it is left.
func TestExecSyncDeadlineCoversStart(t *testing.T) {
	forEachHandler(t, testExecSyncDeadlineCoversStart)
}

func testExecSyncDeadlineCoversStart(t *testing.T, handler string) {
	d, c := execContainer(t, handler, "exec-slow-start")
	bundle := filepath.Join(filepath.Dir(d.Config.Containerd.Address), "run", "io.containerd.runtime.v2.task", d.Config.Containerd.Namespace, c)
	addr, err := os.ReadFile(filepath.Join(bundle, "address"))
	if err != nil {
		t.Fatal(err)
	}
	shim := testrig.DialShim(t, strings.TrimSpace(string(addr)))
	conn, err := shim.Connect(d.Ctx(), &taskapi.ConnectRequest{ID: c})
	if err != nil {
		t.Fatal(err)
	}
	shimPID := int(conn.ShimPid)
	if err := syscall.Kill(shimPID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resume := func() { syscall.Kill(shimPID, syscall.SIGCONT) }
	t.Cleanup(resume)

	type result struct {
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		_, el, err := timedExec(d.Ctx(), d, c, 1, "sleep", "4242")
		done <- result{err, el}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(1*time.Second + 5*time.Second):
		t.Errorf("ExecSync with a 1s timeout had not returned after 6s while its start was held")
		resume()
		r = <-done
	}
	t.Logf("held start: returned after %s: %v", r.elapsed, r.err)
	if codeOf(r.err) != codes.DeadlineExceeded || r.elapsed > time.Second+deadlineMargin {
		t.Errorf("ExecSync with a 1s timeout whose start was held: %v after %s, want DeadlineExceeded within %s", r.err, r.elapsed, time.Second+deadlineMargin)
	}
	pending := execDirs(t, d, c)
	resume()

	// The exec goes on in the shim: it is created, started, killed and
	// deleted.
	waitFor(t, 30*time.Second, "the timed-out exec to be cleaned up", func() bool { return len(execDirs(t, d, c)) == 0 })
	for _, dir := range pending {
		_, err := shim.State(d.Ctx(), &taskapi.StateRequest{ID: c, ExecID: strings.TrimPrefix(dir, "exec-")})
		if status.Code(err) != codes.NotFound {
			t.Errorf("the timed-out exec %s is still in the shim: state %v", dir, err)
		}
	}
	if left := processesRunning(t, d, c, "sleep 4242"); len(left) != 0 {
		t.Errorf("the timed-out exec's process still runs: %q", left)
	}
}

// TestExecSyncTimeoutIgnoresHeldOutput: a background child that holds the
// command's output open does not hold the call past its deadline, whether
// the command is killed at the deadline (it fails with DeadlineExceeded,
// without output) or exits in time (its exit code and the output read by
// the deadline are returned).
func TestExecSyncTimeoutIgnoresHeldOutput(t *testing.T) {
	forEachHandler(t, testExecSyncTimeoutIgnoresHeldOutput)
}

func testExecSyncTimeoutIgnoresHeldOutput(t *testing.T, handler string) {
	d, c := execContainer(t, handler, "exec-held-output")
	for _, timeout := range []int64{1, 2} {
		_, el, err := timedExec(d.Ctx(), d, c, timeout, "sh", "-c", "sleep 100 & sleep 100")
		limit := time.Duration(timeout)*time.Second + deadlineMargin
		t.Logf("timeout %ds, killed: returned after %s", timeout, el)
		if codeOf(err) != codes.DeadlineExceeded || el > limit {
			t.Errorf("timeout %ds, killed with a background child: %v after %s, want DeadlineExceeded within %s", timeout, err, el, limit)
		}
		// The command's own process is gone when the call returns; the
		// children it left are not its (as with a command that exits).
		if left := processesRunning(t, d, c, "sh -c sleep 100 & sleep 100"); len(left) != 0 {
			t.Errorf("timeout %ds: the timed-out command still runs: %q", timeout, left)
		}
	}
	resp, el, err := timedExec(d.Ctx(), d, c, 1, "sh", "-c", "sleep 100 & echo done")
	t.Logf("timeout 1s, exited: returned after %s", el)
	if err != nil || string(resp.Stdout) != "done\n" || resp.ExitCode != 0 || el > time.Second+deadlineMargin {
		t.Errorf("command exiting in time with a background child: %v, stdout %q, exit %d after %s; want done, 0 within %s",
			err, resp.GetStdout(), resp.GetExitCode(), el, time.Second+deadlineMargin)
	}
	waitFor(t, 30*time.Second, "the execs to be cleaned up", func() bool { return len(execDirs(t, d, c)) == 0 })
}

// TestExecSyncHugeCommand: a command no process could have (an executable
// name longer than PATH_MAX, or more than 128 KiB in all) is refused with
// InvalidArgument before anything runs. runc 1.1 hangs for good on an
// executable name of 64 KiB or more, which held the call until its client
// gave up and left runc in the pod's shim until the pod was removed.
func TestExecSyncHugeCommand(t *testing.T) { forEachHandler(t, testExecSyncHugeCommand) }

func testExecSyncHugeCommand(t *testing.T, handler string) {
	d, c := execContainer(t, handler, "exec-huge")
	many := []string{"sh", "-c", "echo $#", "sh"}
	for range 200 {
		many = append(many, strings.Repeat("y", 1023))
	}
	for name, cmd := range map[string][]string{
		"1 MiB executable name":  {strings.Repeat("x", 1<<20)},
		"64 KiB executable name": {strings.Repeat("x", 64<<10)},
		"200 KiB of arguments":   many,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, el, err := timedExec(ctx, d, c, 5, cmd...)
		cancel()
		if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cmd") || el > 2*time.Second {
			t.Errorf("%s: %v after %s, want InvalidArgument naming cmd at once", name, err, el)
		}
		// The streaming Exec (kubectl exec) runs its command the same way.
		_, err = d.Runtime.Exec(d.Ctx(), &runtime.ExecRequest{ContainerId: c, Cmd: cmd, Stdout: true})
		if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cmd") {
			t.Errorf("streaming Exec of a %s: %v, want InvalidArgument naming cmd", name, err)
		}
	}
	if dirs := execDirs(t, d, c); len(dirs) != 0 {
		t.Errorf("refused commands left exec directories: %v", dirs)
	}
	// Long commands within the bounds run.
	if got := execOut(t, d, c, many[:100]...); got != "96" {
		t.Errorf("a 96 KiB command printed %q, want 96", got)
	}
}
