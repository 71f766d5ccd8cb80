package integration

import (
	"os"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// Containers of a pod that shares its PID namespace (the pod's, mode POD)
// see each other's processes and the pause process as PID 1. A container
// whose main process exits takes every process it started with it, before
// its exit is reported: in a shared namespace they do not die with an init
// of their own, the runtime's shim kills them.
func TestSharedPIDNamespacePod(t *testing.T) { forEachHandler(t, testSharedPIDNamespacePod) }

func testSharedPIDNamespacePod(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	pod := podConfig("sharedpid")
	pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_POD}}
	podID := runPodOn(t, d, pod, handler)
	withPod := &runtime.LinuxContainerSecurityContext{NamespaceOptions: pod.Linux.SecurityContext.NamespaceOptions}
	leaderCfg := ctrConfig("leader", img, "sh", "-c", "sleep 1234 & sleep 1235 & wait")
	leaderCfg.Linux.SecurityContext = withPod
	leader := runContainer(t, d, podID, pod, leaderCfg)
	watcherCfg := ctrConfig("watcher", img, "sleep", "3600")
	watcherCfg.Linux.SecurityContext = withPod
	watcher := runContainer(t, d, podID, pod, watcherCfg)

	pause, err := os.ReadFile("/proc/" + pausePID(t, d, podID) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if got := execOut(t, d, watcher, "cat", "/proc/1/cmdline"); got != strings.TrimSpace(string(pause)) {
		t.Errorf("PID 1 of the pod's namespace is %q, want the pause process %q", got, pause)
	}
	ps := func() string { return execOut(t, d, watcher, "ps", "-o", "args") }
	waitFor(t, 10*time.Second, "the leader's children visible to the watcher", func() bool {
		out := ps()
		return strings.Contains(out, "sleep 1234") && strings.Contains(out, "sleep 1235")
	}, ps)

	// SIGTERM ends the shell (not its namespace's init: no protection);
	// its children must go with it. Children left alive hold the
	// container's output open: the stop would then wait out cricketd's
	// bound on draining it (2 s) before it kills them.
	start := time.Now()
	if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: leader, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el >= 2*time.Second {
		t.Errorf("StopContainer took %s: the container's children outlived its exit", el)
	}
	if st := containerStatus(t, d, leader); st.State != runtime.ContainerState_CONTAINER_EXITED || st.ExitCode != 143 {
		t.Errorf("leader after stop: state %v exit %d, want EXITED 143", st.State, st.ExitCode)
	}
	// Gone by the time the exit is reported, as with runc's shim.
	if out := ps(); strings.Contains(out, "sleep 1234") || strings.Contains(out, "sleep 1235") {
		t.Errorf("the stopped container's processes outlive its exit:\n%s", out)
	}
	// An exit of its own (not a stop) does the same.
	exiterCfg := ctrConfig("exiter", img, "sh", "-c", "sleep 1236 & exit 4")
	exiterCfg.Linux.SecurityContext = withPod
	exiter := runContainer(t, d, podID, pod, exiterCfg)
	if st := waitState(t, d, exiter, runtime.ContainerState_CONTAINER_EXITED); st.ExitCode != 4 {
		t.Errorf("exiter exit code %d, want 4", st.ExitCode)
	}
	if out := ps(); strings.Contains(out, "sleep 1236") {
		t.Errorf("the exited container's child outlives its exit:\n%s", out)
	}
}
