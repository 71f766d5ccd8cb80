package integration

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// pinnedDaemon starts a daemon with sandbox_mode = "pinned" on the given
// network, with further config edits (such as defaultOnCricketShim).
func pinnedDaemon(t *testing.T, nw *testrig.PodNetwork, configure ...func(*config.Config)) *testrig.Daemon {
	return testrig.StartDaemon(t, testrig.DaemonOptions{Network: nw, Configure: func(c *config.Config) {
		c.SandboxMode = config.SandboxModePinned
		for _, f := range configure {
			if f != nil {
				f(c)
			}
		}
	}})
}

// kubeletPod is a pod as kubelet sends it for a pod without
// shareProcessNamespace: each container has its own PID namespace.
func kubeletPod(name string) *runtime.PodSandboxConfig {
	pod := podConfig(name)
	pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER},
	}
	return pod
}

// sandboxInfo returns the verbose info of a pod.
func sandboxInfo(t *testing.T, d *testrig.Daemon, podID string) string {
	t.Helper()
	resp, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Info["info"]
}

// TestPinnedSandbox: a pod without a pause process behaves as one with:
// hostname, sysctls, one UTS, IPC and network namespace for its
// containers (not the host's), its IP reachable, one shim for the pod;
// stop and remove leave nothing behind, in both network modes.
func TestPinnedSandbox(t *testing.T) {
	forEachNetworkMode(t, testPinnedSandbox)
}

func testPinnedSandbox(t *testing.T, nw *testrig.PodNetwork) {
	d := pinnedDaemon(t, nw)
	img := busybox(t, d)
	parent := d.CgroupParent("")
	before := d.Resources(t, parent)

	pod := kubeletPod("pinned")
	pod.Linux.CgroupParent = parent
	pod.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1", "net.ipv4.ip_unprivileged_port_start": "100"}
	podID := runPod(t, d, pod)
	info := sandboxInfo(t, d, podID)
	if !strings.Contains(info, `"sandboxMode":"pinned"`) || !strings.Contains(info, `"pid":0`) {
		t.Fatalf("pod is not pinned (no pause process): %s", info)
	}
	// The pod's shim runs before its first container.
	if shims := d.Resources(t).Shims; len(shims) != 1 {
		t.Fatalf("pod without containers runs %d shims, want 1 (started ahead)", len(shims))
	}
	// Stats of a pod whose cgroup no container has made yet.
	if _, err := d.Runtime.PodSandboxStats(d.Ctx(), &runtime.PodSandboxStatsRequest{PodSandboxId: podID}); err != nil {
		t.Errorf("PodSandboxStats before any container: %v", err)
	}

	c1 := runContainer(t, d, podID, pod, ctrConfig("c1", img, "sleep", "3600"))
	c2 := runContainer(t, d, podID, pod, ctrConfig("c2", img, "sleep", "3600"))
	if got := execOut(t, d, c1, "hostname"); got != "pinned" {
		t.Errorf("hostname %q, want pinned", got)
	}
	for path, want := range map[string]string{
		"/proc/sys/kernel/shm_rmid_forced":              "1",
		"/proc/sys/net/ipv4/ip_unprivileged_port_start": "100",
	} {
		if got := execOut(t, d, c2, "cat", path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); strings.TrimSpace(string(b)) == "100" {
		t.Error("a pod sysctl changed the host")
	}
	for _, ns := range []string{"uts", "ipc", "net"} {
		a := execOut(t, d, c1, "readlink", "/proc/self/ns/"+ns)
		b := execOut(t, d, c2, "readlink", "/proc/self/ns/"+ns)
		host, _ := os.Readlink("/proc/self/ns/" + ns)
		if a != b || a == host {
			t.Errorf("%s namespace: c1 %s, c2 %s, host %s; want the containers' equal and not the host's", ns, a, b, host)
		}
	}
	// Containers have PID namespaces of their own (as kubelet asked).
	if ps := execOut(t, d, c1, "ps"); strings.Count(ps, "sleep 3600") != 1 {
		t.Errorf("c1 sees other containers' processes:\n%s", ps)
	}
	ip := podStatus(t, d, podID).GetNetwork().GetIp()
	if ip == "" || !reachable(ip) {
		t.Errorf("pod IP %q not reachable", ip)
	}
	if shims := d.Resources(t).Shims; len(shims) != 1 {
		t.Errorf("pod with 2 containers runs %d shims, want 1", len(shims))
	}
	if _, err := d.Runtime.PodSandboxStats(d.Ctx(), &runtime.PodSandboxStatsRequest{PodSandboxId: podID}); err != nil {
		t.Errorf("PodSandboxStats: %v", err)
	}

	stopPod(t, d, podID)
	if st := podStatus(t, d, podID); st.State != runtime.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("stopped pod is %v", st.State)
	}
	removePod(t, d, podID)
	if diff := before.Diff(d.Resources(t, parent)); diff != "" {
		t.Fatalf("pinned pod left behind:\n%s", diff)
	}

	// A pod removed without ever running a container takes its shim.
	empty := runPod(t, d, kubeletPod("empty"))
	removePod(t, d, empty)
	// A pod that shares its PID namespace gets a pause process (its init).
	shared := podConfig("shared-pid")
	sharedID := runPod(t, d, shared)
	if info := sandboxInfo(t, d, sharedID); !strings.Contains(info, `"sandboxMode":"pause"`) {
		t.Errorf("pod with a shared PID namespace is not a pause sandbox: %s", info)
	}
	removePod(t, d, sharedID)
	if diff := before.Diff(d.Resources(t, parent)); diff != "" {
		t.Fatalf("pods left behind:\n%s", diff)
	}
}

// TestPinnedSandboxSurvivesCrash: after a kill -9 of cricketd, a pinned pod
// is still READY, its containers run (on runc's shim, also one whose shim
// containerd spawned after the pod's first shim exited with its last
// container; cricket's shim, spawned by cricketd for the pod, stays for
// the pod's next container instead), a new container joins its
// namespaces, and removing it leaves nothing.
func TestPinnedSandboxSurvivesCrash(t *testing.T) { forEachShim(t, testPinnedSandboxSurvivesCrash) }

func testPinnedSandboxSurvivesCrash(t *testing.T, onShim func(*config.Config)) {
	d := pinnedDaemon(t, testrig.NewPodNetwork(), onShim)
	img := busybox(t, d)
	before := d.Resources(t)
	pod := kubeletPod("pinned-crash")
	podID := runPod(t, d, pod)
	c1 := runContainer(t, d, podID, pod, ctrConfig("c1", img, "sleep", "3600"))
	uts := execOut(t, d, c1, "readlink", "/proc/self/ns/uts")
	// The pod's only container goes. runc's shim started ahead goes with
	// it; cricket's stays.
	onCricket := d.Config.DefaultRuntime == config.CricketRuntimeHandler
	podShim := d.Resources(t).Shims
	stopAndRemoveContainer(t, d, c1)
	if !onCricket {
		waitFor(t, 10*time.Second, "the pod's shim to exit with its last task", func() bool { return len(d.Resources(t).Shims) == 0 })
	}
	// On runc's shim containerd spawns the next shim for c2 and names it
	// after c2; c3 joins it. Once c2 is removed (kubelet's garbage
	// collection of a restarted container), the shim bears the name of a
	// container that no longer exists, yet it hosts c3.
	c2 := runContainer(t, d, podID, pod, ctrConfig("c2", img, "sleep", "3600"))
	c3 := runContainer(t, d, podID, pod, ctrConfig("c3", img, "sleep", "3600"))
	if got := d.Resources(t).Shims; onCricket && !slices.Equal(got, podShim) {
		t.Errorf("the pod's next containers run in shims %v, not in the pod's shim %v", got, podShim)
	}
	stopAndRemoveContainer(t, d, c2)

	d.Kill()
	d.Start()
	if st := podStatus(t, d, podID); st.State != runtime.PodSandboxState_SANDBOX_READY {
		t.Fatalf("pinned pod after restart: %v", st.State)
	}
	if st := containerStatus(t, d, c3); st.State != runtime.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("container after restart: %v (%s)", st.State, st.Reason)
	}
	if got := execOut(t, d, c3, "hostname"); got != "pinned-crash" {
		t.Errorf("hostname %q after restart", got)
	}
	c4 := runContainer(t, d, podID, pod, ctrConfig("c4", img, "sleep", "3600"))
	if got := execOut(t, d, c4, "readlink", "/proc/self/ns/uts"); got != uts {
		t.Errorf("container created after the restart is in UTS namespace %s, want the pod's %s", got, uts)
	}
	removePod(t, d, podID)
	if diff := before.Diff(d.Resources(t)); diff != "" {
		t.Fatalf("pinned pod left behind after a restart:\n%s", diff)
	}
}

// TestPinnedSandboxWithoutShimAhead: when the pod's shim cannot be started
// ahead (here a runc shim whose start command fails, as a containerd 2.3
// shim's does for the old start protocol), the pod still runs: containerd
// spawns the shim with the first container, and nothing is left behind.
func TestPinnedSandboxWithoutShimAhead(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	fake := "#!/bin/sh\necho 'shim was started through the deprecated API' >&2\nexit 1\n"
	if err := os.WriteFile(bin+"/containerd-shim-runc-v2", []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	d := testrig.StartDaemon(t, testrig.DaemonOptions{
		Network: testrig.NewPodNetwork(),
		Env:     []string{"PATH=" + bin + ":" + os.Getenv("PATH")},
		Configure: func(c *config.Config) {
			c.SandboxMode = config.SandboxModePinned
			c.DefaultRuntime = config.RuncRuntimeHandler
		},
	})
	img := busybox(t, d)
	before := d.Resources(t)
	pod := kubeletPod("noshimahead")
	podID := runPod(t, d, pod)
	if info := sandboxInfo(t, d, podID); !strings.Contains(info, `"sandboxMode":"pinned"`) {
		t.Fatalf("pod is not pinned: %s", info)
	}
	if !strings.Contains(d.Log(), "could not start the pod's shim ahead") {
		t.Error("the failed shim start was not logged")
	}
	if n := len(d.Resources(t).Shims); n != 0 {
		t.Errorf("%d shims run for a pod whose shim start failed, want none before its first container", n)
	}
	c1 := runContainer(t, d, podID, pod, ctrConfig("c1", img, "sleep", "3600"))
	c2 := runContainer(t, d, podID, pod, ctrConfig("c2", img, "sleep", "3600"))
	if got := execOut(t, d, c1, "hostname"); got != "noshimahead" {
		t.Errorf("hostname %q", got)
	}
	if a, b := execOut(t, d, c1, "readlink", "/proc/self/ns/uts"), execOut(t, d, c2, "readlink", "/proc/self/ns/uts"); a != b {
		t.Errorf("containers in UTS namespaces %s and %s, want the pod's", a, b)
	}
	if n := len(d.Resources(t).Shims); n != 1 {
		t.Errorf("%d shims for the pod's containers, want 1", n)
	}
	// The shim is named after c1; once c1 is removed, a restarted cricketd
	// must still see that the shim hosts c2.
	stopAndRemoveContainer(t, d, c1)
	d.Kill()
	d.Start()
	if st := containerStatus(t, d, c2); st.State != runtime.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("c2 after restart: %v (%s)", st.State, st.Reason)
	}
	if got := execOut(t, d, c2, "hostname"); got != "noshimahead" {
		t.Errorf("hostname %q after restart", got)
	}
	stopPod(t, d, podID)
	removePod(t, d, podID)
	if diff := before.Diff(d.Resources(t)); diff != "" {
		t.Fatalf("pod without a shim ahead left behind:\n%s", diff)
	}
}
