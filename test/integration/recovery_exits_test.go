package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// A node that restarts cricketd after a burst of job pods: containers that
// exited while cricketd was down must not hold up start-up (kubelet's
// calls time out meanwhile), and their exit codes and the output they
// wrote while cricketd was away must be kept.
func TestRecoveryAfterManyExits(t *testing.T) {
	t.Parallel()
	const n = 100
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	img := busybox(t, d)
	podID, pod := podWithLogs(t, d, "exits")

	// The containers wait on a FIFO the test holds open; closing it lets
	// them all finish at once, while cricketd is down.
	gateDir := t.TempDir()
	gate := filepath.Join(gateDir, "gate")
	if err := syscall.Mkfifo(gate, 0o666); err != nil {
		t.Fatal(err)
	}
	hold, err := os.OpenFile(gate, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()

	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// The first writes more after the gate than the pipe to
			// cricketd holds, so the shim still holds its output when the
			// process exits.
			after := fmt.Sprintf("echo after-%d", i)
			if i == 0 {
				after = fmt.Sprintf("i=0; while [ $i -lt %d ]; do echo after-0-$i; i=$((i+1)); done", bigLines)
			}
			cfg := ctrConfig(fmt.Sprintf("job-%d", i), img, "sh", "-c",
				fmt.Sprintf("echo before-%d; cat /gate/gate; %s; exit %d", i, after, i%100+1))
			cfg.LogPath = fmt.Sprintf("job-%d.log", i)
			cfg.Mounts = []*runtime.Mount{{ContainerPath: "/gate", HostPath: gateDir}}
			// A PID namespace of its own, as kubelet gives every container
			// of a pod without shareProcessNamespace: the shim then has no
			// other process of the container to kill when it exits.
			cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER}}
			resp, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
			if err != nil {
				errs <- err
				return
			}
			if _, err := d.Runtime.StartContainer(d.Ctx(), &runtime.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
				errs <- err
				return
			}
			ids[i] = resp.ContainerId
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every container is in `cat`, reading the gate.
	pids := make([]string, n)
	for i, id := range ids {
		pids[i] = containerPID(t, d, id)
	}
	waitFor(t, 2*time.Minute, "every container to read the gate", func() bool {
		for _, pid := range pids {
			if !readsGate(pid) {
				return false
			}
		}
		return true
	})

	d.Kill()
	hold.Close()
	waitFor(t, time.Minute, "every container to exit while cricketd is down", func() bool {
		for _, pid := range pids {
			if _, err := os.Stat("/proc/" + pid); err == nil {
				return false
			}
		}
		return true
	})

	// Pod and container calls are served within 2 s of start-up.
	start := time.Now()
	d.Start()
	if _, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{}); err != nil {
		t.Fatalf("ListContainers after restart: %v", err)
	}
	el := time.Since(start)
	if el > 2*time.Second {
		t.Errorf("pod and container calls served %s after start-up with %d exits to recover, want within 2s", el.Round(time.Millisecond), n)
	}
	t.Logf("pod and container calls served %s after start-up with %d exits to recover", el.Round(time.Millisecond), n)
	// Every exit code is kept, and the log is complete once a container
	// reads as exited: what it wrote before the kill, and what the pipe
	// still held. (What a container wrote while cricketd was down into a
	// pipe that the shim closed when the process exited is gone: the
	// runc shim holds the pipe only while its process runs.)
	for i, id := range ids {
		st := waitState(t, d, id, runtime.ContainerState_CONTAINER_EXITED)
		if st.ExitCode != int32(i%100+1) {
			t.Errorf("container %d: exit code %d, want %d", i, st.ExitCode, i%100+1)
		}
		lines := logLines(t, st.LogPath)
		if len(lines) == 0 || lines[0] != fmt.Sprintf("stdout: before-%d", i) {
			t.Errorf("log of job %d: %q, want it to start with before-%d", i, lines, i)
		}
		if i == 0 {
			if len(lines) != bigLines+1 || lines[bigLines] != fmt.Sprintf("stdout: after-0-%d", bigLines-1) {
				t.Errorf("job 0 logged %d lines, last %q; want %d, all it wrote while cricketd was down", len(lines), lines[len(lines)-1], bigLines+1)
			}
		}
	}
}

// bigLines lines of "after-0-N" are about 90 KiB: more than the shim's
// pipe to cricketd holds (64 KiB), less than that and the process's pipe
// to the shim together, so the process can exit while the shim still
// holds its output.
const bigLines = 7000

// readsGate reports whether the container process pid has a child that
// has the gate FIFO open.
func readsGate(pid string) bool {
	kids, _ := os.ReadFile(filepath.Join("/proc", pid, "task", pid, "children"))
	for _, kid := range strings.Fields(string(kids)) {
		fds, _ := os.ReadDir(filepath.Join("/proc", kid, "fd"))
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join("/proc", kid, "fd", fd.Name())); strings.HasSuffix(l, "/gate/gate") {
				return true
			}
		}
	}
	return false
}
