package integration

import (
	"os"
	"strings"
	"testing"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// onlyShim returns the PID of the one shim of the daemon's namespace, which
// must be cricket's.
func onlyShim(t *testing.T, d *testrig.Daemon, when string) string {
	t.Helper()
	return onlyShimOf(t, d, "containerd-shim-cricket-v1", when)
}

// onlyShimOf returns the PID of the one shim of the daemon's namespace,
// which must run binary.
func onlyShimOf(t *testing.T, d *testrig.Daemon, binary, when string) string {
	t.Helper()
	shims := d.Resources(t).Shims
	if len(shims) != 1 || !strings.Contains(shims[0], "("+binary+",") {
		t.Fatalf("%s: shims %v, want one %s", when, shims, binary)
	}
	return strings.Fields(shims[0])[0]
}

// parentOf returns the parent PID of a process.
func parentOf(t *testing.T, pid string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[1]
}

// TestPinnedSandboxOnCricketShim: a pinned pod on the cricket handler has
// cricket's shim started ahead of its first container, as on runc's, and
// its containers run in that one process (their inits are its children:
// it is their subreaper). Removing the pod leaves nothing behind.
func TestPinnedSandboxOnCricketShim(t *testing.T) {
	t.Parallel()
	d := pinnedDaemon(t, testrig.NewPodNetwork())
	img := busybox(t, d)
	parent := d.CgroupParent("")
	before := d.Resources(t, parent)
	pod := kubeletPod("pinned-cricket")
	pod.Linux.CgroupParent = parent
	podID := runPodOn(t, d, pod, cricketHandler)
	if info := sandboxInfo(t, d, podID); !strings.Contains(info, `"sandboxMode":"pinned"`) {
		t.Fatalf("pod is not pinned: %s", info)
	}
	shim := onlyShim(t, d, "before the first container")

	c1 := runContainer(t, d, podID, pod, ctrConfig("c1", img, "sleep", "3600"))
	c2 := runContainer(t, d, podID, pod, ctrConfig("c2", img, "sleep", "3600"))
	if got := onlyShim(t, d, "with two containers"); got != shim {
		t.Errorf("containers run in shim %s, not in the one started ahead (%s)", got, shim)
	}
	for _, c := range []string{c1, c2} {
		if ppid := parentOf(t, containerPID(t, d, c)); ppid != shim {
			t.Errorf("container %s's init is a child of %s, not of the pod's shim %s", c, ppid, shim)
		}
		if got := execOut(t, d, c, "hostname"); got != "pinned-cricket" {
			t.Errorf("hostname %q", got)
		}
	}
	if a, b := execOut(t, d, c1, "readlink", "/proc/self/ns/uts"), execOut(t, d, c2, "readlink", "/proc/self/ns/uts"); a != b {
		t.Errorf("containers in UTS namespaces %s and %s, want the pod's", a, b)
	}
	stopPod(t, d, podID)
	removePod(t, d, podID)
	if diff := before.Diff(d.Resources(t, parent)); diff != "" {
		t.Fatalf("pinned pod on cricket's shim left behind:\n%s", diff)
	}
	// A pod removed before any container takes its shim with it.
	empty := runPodOn(t, d, kubeletPod("pinned-cricket-empty"), cricketHandler)
	onlyShim(t, d, "a pod without containers")
	removePod(t, d, empty)
	if diff := before.Diff(d.Resources(t, parent)); diff != "" {
		t.Fatalf("empty pinned pod on cricket's shim left behind:\n%s", diff)
	}
}
