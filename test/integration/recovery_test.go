package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/prometheus/procfs"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/mounts"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// counterCmd prints numbered lines forever, so gaps in a log show.
func counterCmd(prefix string) []string {
	return []string{"sh", "-c", "i=0; while :; do echo " + prefix + "$i; i=$((i+1)); sleep 0.02; done"}
}

// checkCounterLog verifies a counter container's log is gapless and at
// least min lines long.
func checkCounterLog(t *testing.T, path, prefix string, min int) {
	t.Helper()
	checkCounterLogKilled(t, path, prefix, min, false)
}

// checkCounterLogKilled is checkCounterLog for a log whose copier was
// killed (kill -9 of cricketd) while the counter ran: the one line the
// copier had read from the pipe and not yet written at that instant is
// lost with the process (a pipe cannot be read without consuming it), so
// one gap of one line may show. Anything else, a duplicate, a reordering
// or more lost lines, fails.
func checkCounterLogKilled(t *testing.T, path, prefix string, min int, killed bool) {
	t.Helper()
	lines := logLines(t, path)
	if len(lines) < min {
		t.Fatalf("%s has %d lines, want at least %d", path, len(lines), min)
	}
	next, gaps := 0, 0
	for i, l := range lines {
		if killed && gaps == 0 && l == "stdout: "+prefix+strconv.Itoa(next+1) {
			t.Logf("line %s%d of %s was lost in the kill", prefix, next, path)
			next, gaps = next+1, 1
		}
		if l != "stdout: "+prefix+strconv.Itoa(next) {
			t.Fatalf("line %d of %s is %q, want %q: output was lost or duplicated", i, path, l, "stdout: "+prefix+strconv.Itoa(next))
		}
		next++
	}
}

// snapshotState lists pods and containers as a user would compare them.
func snapshotState(t *testing.T, d *testrig.Daemon) (map[string]*runtime.PodSandboxStatus, map[string]*runtime.ContainerStatus) {
	t.Helper()
	pods := map[string]*runtime.PodSandboxStatus{}
	for _, p := range listPods(t, d, nil) {
		pods[p.Id] = podStatus(t, d, p.Id)
	}
	ctrs := map[string]*runtime.ContainerStatus{}
	resp, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Containers {
		ctrs[c.Id] = containerStatus(t, d, c.Id)
	}
	return pods, ctrs
}

// TestCrashRecoveryKeepsEverything: after a kill -9 of cricketd, pods and
// containers read as before, an exit while it was down is recorded, a
// counter's log has no gap, and new work and tear-down go on; on both
// shims.
func TestCrashRecoveryKeepsEverything(t *testing.T) { forEachShim(t, testCrashRecoveryKeepsEverything) }

func testCrashRecoveryKeepsEverything(t *testing.T, onShim func(*config.Config)) {
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Configure: onShim})
	img := busybox(t, d)
	base := censusBase(t, d)
	podID, pod := censusPod(t, d, "crash")
	pod.Annotations["crash"] = "yes"
	logger := ctrConfig("logger", img, counterCmd("n")...)
	logger.LogPath = "logger.log"
	logger.Labels = map[string]string{"role": "logger"}
	loggerID := runContainer(t, d, podID, pod, logger)
	// late-exit exits only when told (a file the test drops into its root
	// filesystem while cricketd is down), however slow the machine.
	late := ctrConfig("late-exit", img, "sh", "-c", "until [ -e /exit-now ]; do sleep 0.05; done; exit 7")
	lateID := runContainer(t, d, podID, pod, late)
	doneID := runContainer(t, d, podID, pod, ctrConfig("done", img, "sh", "-c", "exit 3"))
	waitState(t, d, doneID, runtime.ContainerState_CONTAINER_EXITED)
	createdID := createContainer(t, d, podID, pod, ctrConfig("created", img, "true"))
	stoppedPod, _ := censusPod(t, d, "crash-stopped")
	stopPod(t, d, stoppedPod)

	pods, ctrs := snapshotState(t, d)
	loggerLog := ctrs[loggerID].LogPath
	logged := len(logLines(t, loggerLog))
	latePID := containerPID(t, d, lateID)
	killedAt := time.Now()
	d.Kill()
	// While cricketd is down, late-exit exits and the logger keeps writing
	// into its pipe.
	if err := os.WriteFile(filepath.Join("/proc", latePID, "root", "exit-now"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "late-exit to exit while cricketd is down", func() bool {
		_, err := os.Stat(filepath.Join("/proc", latePID))
		return err != nil
	})
	d.Start()

	pods2, ctrs2 := snapshotState(t, d)
	if len(pods2) != len(pods) || len(ctrs2) != len(ctrs) {
		t.Fatalf("after restart: %d pods and %d containers, before: %d and %d", len(pods2), len(ctrs2), len(pods), len(ctrs))
	}
	for id, before := range pods {
		after := pods2[id]
		if !proto.Equal(before, after) {
			t.Errorf("pod %s changed across the restart:\n before %v\n after  %v", id, before, after)
		}
	}
	for id, before := range ctrs {
		after := ctrs2[id]
		if id == lateID {
			continue
		}
		if !proto.Equal(before, after) {
			t.Errorf("container %s changed across the restart:\n before %v\n after  %v", id, before, after)
		}
	}
	lst := ctrs2[lateID]
	if lst.State != runtime.ContainerState_CONTAINER_EXITED || lst.ExitCode != 7 || lst.Reason != "Error" ||
		time.Unix(0, lst.FinishedAt).Before(killedAt) {
		t.Errorf("exit while cricketd was down: %v", lst)
	}
	if ctrs2[createdID].State != runtime.ContainerState_CONTAINER_CREATED {
		t.Errorf("created container: %v", ctrs2[createdID].State)
	}
	// The logger kept running and its log has no gap: what it wrote
	// while cricketd was down is there, and it goes on logging.
	execOut(t, d, loggerID, "true")
	want := logged + 50
	waitFor(t, 30*time.Second, "the logger to log on after the restart", func() bool {
		return len(logLines(t, loggerLog)) >= want
	})
	checkCounterLogKilled(t, loggerLog, "n", want, true)
	// Everything still works: a new container, then tear-down.
	runContainer(t, d, podID, pod, ctrConfig("after", img, "sleep", "3600"))
	stopPod(t, d, podID)
	checkCounterLogKilled(t, loggerLog, "n", want, true)
	removePod(t, d, podID)
	removePod(t, d, stoppedPod)
	checkNoLeaks(t, d, base)
}

// TestContainerdRestart: containerd dies (kill -9) and its supervisor
// restarts it; it reconnects to the pod's shim (through the address file
// in each task's bundle), an exit during the outage arrives, exec and new
// containers work, and no output is lost; on both shims.
func TestContainerdRestart(t *testing.T) { forEachShim(t, testContainerdRestart) }

func testContainerdRestart(t *testing.T, onShim func(*config.Config)) {
	ctrd := testrig.StartPrivateContainerd(t)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Containerd: ctrd, Configure: onShim})
	img := busybox(t, d)
	base := censusBase(t, d)
	podID, pod := censusPod(t, d, "ctrd")

	// While containerd is down and nothing restarts it, a call that needs
	// it fails with Unavailable, the code kubelet retries.
	ctrd.Stop()
	if _, err := d.Images.ListImages(d.Ctx(), &runtime.ListImagesRequest{}); codeOf(err) != codes.Unavailable {
		t.Errorf("ListImages while containerd is down: %v, want Unavailable", err)
	}
	ctrd.Start()
	waitFor(t, 60*time.Second, "cricketd to reach containerd again", func() bool {
		_, err := d.Images.ListImages(d.Ctx(), &runtime.ListImagesRequest{})
		return err == nil
	})

	logger := ctrConfig("logger", img, counterCmd("m")...)
	logger.LogPath = "logger.log"
	loggerID := runContainer(t, d, podID, pod, logger)
	short := runContainer(t, d, podID, pod, ctrConfig("short", img, "sh", "-c", "sleep 2; exit 5"))

	// containerd dies; its supervisor restarts it. The short container
	// exits around the outage.
	pid := ctrd.PID()
	syscall.Kill(pid, syscall.SIGKILL)
	failures := map[codes.Code]int{} // ListImages's, by code
	waitFor(t, 60*time.Second, "containerd back", func() bool {
		_, err := d.Images.ListImages(d.Ctx(), &runtime.ListImagesRequest{})
		if err != nil {
			failures[codeOf(err)]++
		}
		st, err2 := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{})
		return err == nil && err2 == nil && condition(st, runtime.RuntimeReady).GetStatus() && ctrd.PID() != pid
	})
	// A call across the restart either waits for the new containerd (the
	// gRPC connection is being re-established: a restart within some 50
	// ms goes unnoticed) or fails with Unavailable; never otherwise.
	for code, n := range failures {
		if code != codes.Unavailable {
			t.Errorf("%d ListImages calls failed with %s across containerd's restart, want Unavailable", n, code)
		}
	}
	st := waitState(t, d, short, runtime.ContainerState_CONTAINER_EXITED)
	if st.ExitCode != 5 {
		t.Errorf("exit across a containerd restart: %v", st)
	}
	if got := execOut(t, d, loggerID, "echo", "alive"); got != "alive" {
		t.Errorf("exec after containerd restart: %q", got)
	}
	// New work succeeds.
	other := runContainer(t, d, podID, pod, ctrConfig("other", img, "true"))
	waitState(t, d, other, runtime.ContainerState_CONTAINER_EXITED)
	stopPod(t, d, podID)
	checkCounterLog(t, filepath.Join(pod.LogDirectory, "logger.log"), "m", 50)
	removePod(t, d, podID)
	checkNoLeaks(t, d, base)
}

// TestHostRebootSimulation kills every pod process and wipes the volatile
// state (containerd's and cricket's state dirs, netns pins, /dev/shm
// mounts), as a reboot would, and checks that cricket reports the pods
// NOTREADY and still releases their addresses.
func TestHostRebootSimulation(t *testing.T) {
	t.Parallel()
	ctrd := testrig.StartPrivateContainerd(t)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Containerd: ctrd})
	img := busybox(t, d)
	var ids []string
	for i := range 2 {
		pod := podConfig(fmt.Sprintf("reboot-%d", i))
		// The killed processes' cgroups stay (a real reboot empties
		// cgroupfs); under the rig's parent, its clean-up removes them.
		pod.Linux.CgroupParent = d.CgroupParent("")
		id := runPod(t, d, pod)
		runContainer(t, d, id, pod, ctrConfig("c", img, "sleep", "3600"))
		ids = append(ids, id)
	}
	if n := len(d.Network.Allocations(t)); n != 2 {
		t.Fatalf("%d allocations before the reboot", n)
	}

	// "Power off": cricketd and containerd die, every shim and container
	// process dies, /run is gone.
	shims := d.Resources(t).Shims
	d.Kill()
	ctrd.Stop()
	for _, shim := range shims {
		pid, _ := strconv.Atoi(strings.Fields(shim)[0])
		killTree(t, pid)
	}
	mounts.UnmountUnder(d.Config.State)
	os.RemoveAll(d.Config.State)
	mounts.UnmountUnder(ctrd.StateDir())
	os.RemoveAll(ctrd.StateDir())
	// "Boot".
	ctrd.Start()
	d.Start()

	for _, id := range ids {
		if st := podStatus(t, d, id); st.State != runtime.PodSandboxState_SANDBOX_NOTREADY {
			t.Errorf("pod %s after reboot: %v", id, st.State)
		}
	}
	resp, _ := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{})
	for _, c := range resp.Containers {
		if c.State != runtime.ContainerState_CONTAINER_EXITED {
			t.Errorf("container %s after reboot: %v", c.Id, c.State)
		}
	}
	for _, id := range ids {
		stopPod(t, d, id)
		removePod(t, d, id)
	}
	if got := d.Network.Allocations(t); len(got) != 0 {
		t.Errorf("addresses not released after the reboot: %v", got)
	}
	if r := d.Resources(t); len(r.Containers) != 0 || len(r.NetNS) != 0 {
		t.Errorf("left after reboot clean-up: %+v", r)
	}
}

// killTree SIGKILLs a process and all its descendants, children first,
// and waits until each is gone. A Go shim forks from any of its threads,
// and a child is listed in the children file of the thread that forked it
// only: every thread's count. (Reading the main thread's alone missed
// containers now and then, which kept running, and their cgroups, past
// the test.)
func killTree(t *testing.T, pid int) {
	t.Helper()
	threads, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, th := range threads {
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, th.Name()))
		for _, c := range strings.Fields(string(children)) {
			cpid, _ := strconv.Atoi(c)
			killTree(t, cpid)
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, 10*time.Second, fmt.Sprintf("process %d to die", pid), func() bool {
		// Gone, or a zombie (it has left its cgroup) left to its parent.
		p, err := procfs.NewProc(pid)
		if err != nil {
			return true
		}
		st, err := p.Stat()
		return err != nil || st.State == "Z"
	})
}

// TestRecoveryTaskTheShimForgot reproduces what a crash of cricketd in the
// middle of deleting an exited container's task leaves: the shim has
// deleted the task, containerd still lists it, and asking containerd for
// its status fails with "container not created". Recovery must report the
// container exited and clean containerd's listing up, not keep showing
// the container as running.
func TestRecoveryTaskTheShimForgot(t *testing.T) { forEachShim(t, testRecoveryTaskTheShimForgot) }

func testRecoveryTaskTheShimForgot(t *testing.T, onShim func(*config.Config)) {
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Configure: onShim})
	img := busybox(t, d)
	base := censusBase(t, d)
	podID, pod := censusPod(t, d, "forgot")
	ctrID := runContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))
	d.Kill()

	// Behind containerd's back, as the cut-off delete did: kill the
	// container's init through its shim and delete it there.
	bundle := filepath.Join(filepath.Dir(d.Config.Containerd.Address), "run", "io.containerd.runtime.v2.task", d.Config.Containerd.Namespace, ctrID)
	addr, err := os.ReadFile(filepath.Join(bundle, "address"))
	if err != nil {
		t.Fatal(err)
	}
	shim := testrig.DialShim(t, strings.TrimSpace(string(addr)))
	ctx := d.Ctx()
	if _, err := shim.Kill(ctx, &taskapi.KillRequest{ID: ctrID, Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the container's init to exit", func() bool {
		st, err := shim.State(ctx, &taskapi.StateRequest{ID: ctrID})
		return err == nil && st.Status == tasktypes.Status_STOPPED
	})
	if _, err := shim.Delete(ctx, &taskapi.DeleteRequest{ID: ctrID}); err != nil {
		t.Fatal(err)
	}

	d.Start()
	st := containerStatus(t, d, ctrID)
	if st.State != runtime.ContainerState_CONTAINER_EXITED {
		t.Fatalf("container whose task the shim deleted is %v after recovery, want EXITED", st.State)
	}
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: ctrID}); err != nil {
		t.Fatalf("remove it: %v", err)
	}
	// The pod still works, and tearing it down leaves nothing.
	runContainer(t, d, podID, pod, ctrConfig("after", img, "sleep", "3600"))
	stopPod(t, d, podID)
	removePod(t, d, podID)
	checkNoLeaks(t, d, base)
}

// TestRecoveryRemovesOrphanSandboxDirs: a pod directory whose checkpoint
// is gone (a clean-up that failed half way, an unreadable checkpoint)
// still holds mounts: a pinned namespace and the pod's /dev/shm. The next
// start releases them and removes the directory; a live pod's stays.
func TestRecoveryRemovesOrphanSandboxDirs(t *testing.T) {
	t.Parallel()
	d := pinnedDaemon(t, testrig.NewPodNetwork())
	live := runPod(t, d, kubeletPod("live"))
	orphan := filepath.Join(d.Config.State, "sandboxes", strings.Repeat("ab", 32))
	if err := os.MkdirAll(filepath.Join(orphan, "ns"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(orphan, "shm"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("shm", filepath.Join(orphan, "shm"), "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	pin := filepath.Join(orphan, "ns", "uts")
	if err := os.WriteFile(pin, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("/proc/self/ns/uts", pin, "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mounts.UnmountUnder(orphan); os.RemoveAll(orphan) })

	d.Kill()
	d.Start()
	if m := mounts.Under(orphan); len(m) != 0 {
		t.Errorf("mounts of a sandbox directory without a sandbox survive recovery: %v", m)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("sandbox directory without a sandbox survives recovery: %v", err)
	}
	if st := podStatus(t, d, live); st.State != runtime.PodSandboxState_SANDBOX_READY {
		t.Errorf("live pod after recovery: %v", st.State)
	}
	if m := mounts.Under(filepath.Join(d.Config.State, "sandboxes", live)); len(m) == 0 {
		t.Error("the live pinned pod lost its mounts")
	}
	removePod(t, d, live)
}
