package integration

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// placeFile hard-links src at dst, or copies it (another filesystem).
func placeFile(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Link(src, dst); err == nil {
		return
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// pathWithout is $PATH without dir.
func pathWithout(dir string) string {
	var keep []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if filepath.Clean(d) != filepath.Clean(dir) {
			keep = append(keep, d)
		}
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// TestManagedContainerdFindsShimNextToCricketd: cricketd with a managed
// containerd runs pods on the cricket handler with cricket's shim next to
// its executable (as `make build` leaves bin/) and nowhere in PATH: the
// managed containerd has that directory first in its PATH, and cricketd
// starts a pinned pod's shim ahead from there.
func TestManagedContainerdFindsShimNextToCricketd(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	placeFile(t, self, filepath.Join(bin, "cricketd"))
	placeFile(t, testrig.ShimBinary(t), filepath.Join(bin, "containerd-shim-cricket-v1"))
	path := pathWithout(filepath.Dir(testrig.ShimBinary(t)))
	for _, dir := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(dir, "containerd-shim-cricket-v1")); err == nil {
			t.Fatalf("cricket's shim is in PATH (%s): the test needs it only next to cricketd", dir)
		}
	}
	d := testrig.StartDaemon(t, testrig.DaemonOptions{
		Managed:    true,
		Executable: filepath.Join(bin, "cricketd"),
		Env:        []string{"PATH=" + path},
		Network:    testrig.NewPodNetwork(),
		Configure:  func(c *config.Config) { c.SandboxMode = config.SandboxModePinned },
	})
	img := busybox(t, d)
	before := d.Resources(t)
	pod := kubeletPod("managed-shim")
	podID := runPodOn(t, d, pod, cricketHandler)
	shim := onlyShim(t, d, "pinned pod before its first container")
	if exe, _ := os.Readlink("/proc/" + shim + "/exe"); exe != filepath.Join(bin, "containerd-shim-cricket-v1") {
		t.Errorf("the pod's shim runs %s, want the one next to cricketd", exe)
	}
	c := runContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))
	if got := execOut(t, d, c, "hostname"); got != "managed-shim" {
		t.Errorf("hostname %q", got)
	}
	if ppid := parentOf(t, containerPID(t, d, c)); ppid != shim {
		t.Errorf("container's init is a child of %s, not of the pod's shim %s", ppid, shim)
	}
	stopPod(t, d, podID)
	removePod(t, d, podID)
	if diff := before.Diff(d.Resources(t)); diff != "" {
		t.Fatalf("left behind:\n%s", diff)
	}
}

// TestCricketHandlerWithoutShim: on a node where containerd cannot find
// cricket's shim, pods on the cricket handler fail with FailedPrecondition
// naming the binary (not Unknown, which kubelet would retry as a passing
// failure), when the pod's pause container or the first container's task
// is created, and nothing is left behind.
func TestCricketHandlerWithoutShim(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{
		Managed:   true,
		Env:       []string{"PATH=" + pathWithout(filepath.Dir(testrig.ShimBinary(t)))},
		Network:   testrig.NewPodNetwork(),
		Configure: func(c *config.Config) { c.SandboxMode = config.SandboxModePinned },
	})
	img := busybox(t, d)
	pull(t, d, d.PauseImage)
	before := d.Resources(t)
	wantMissingShim := func(what string, err error) {
		t.Helper()
		if codeOf(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "containerd-shim-cricket-v1") {
			t.Errorf("%s without cricket's shim: %v; want FailedPrecondition naming containerd-shim-cricket-v1", what, err)
		}
	}
	// A pod that shares its PID namespace has a pause container.
	_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: podConfig("noshim-pause"), RuntimeHandler: cricketHandler})
	wantMissingShim("RunPodSandbox", err)
	// A pinned pod runs without its shim started ahead; its first
	// container's task cannot be created.
	pod := kubeletPod("noshim-pinned")
	podID := runPodOn(t, d, pod, cricketHandler)
	c := createContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))
	_, err = d.Runtime.StartContainer(d.Ctx(), &runtime.StartContainerRequest{ContainerId: c})
	wantMissingShim("StartContainer", err)
	removePod(t, d, podID)
	if diff := before.Diff(d.Resources(t)); diff != "" {
		t.Fatalf("left behind:\n%s", diff)
	}
}
