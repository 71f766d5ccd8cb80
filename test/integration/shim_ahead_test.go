package integration

import (
	"strings"
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// TestShimAheadOfPod: cricketd spawns cricket's shim for a pod before the
// pod's first task, with pause containers as with pinned sandboxes. The
// pod has that one shim for its pause container and its containers, also
// after its last container was removed, until the pod goes; a pod
// whose creation fails leaves no shim and nothing else behind: here the
// kernel refuses a sysctl value (when the pause task is created, after the
// spawn; a pinned pod's namespaces refuse it before), and the pod network
// refuses the pod (after the spawn in both modes).
func TestShimAheadOfPod(t *testing.T) {
	for _, mode := range []string{config.SandboxModePause, config.SandboxModePinned} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			nw := testrig.NewPodNetwork()
			nw.Builtin = true
			d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: nw, Configure: func(c *config.Config) { c.SandboxMode = mode }})
			img := busybox(t, d)
			parent := d.CgroupParent("")
			if _, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: d.PauseImage}}); err != nil {
				t.Fatal(err)
			}
			before := d.Resources(t, parent)

			bad := podConfig("ahead-fails")
			bad.Linux.CgroupParent = parent
			bad.Linux.Sysctls = map[string]string{"kernel.msgmax": "not-a-number"}
			for range 3 {
				if _, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: bad}); err == nil || !strings.Contains(err.Error(), "msgmax") {
					t.Fatalf("RunPodSandbox with a sysctl value the kernel refuses: %v", err)
				}
			}
			if diff := before.Diff(d.Resources(t, parent)); diff != "" {
				t.Fatalf("failed RunPodSandbox left behind:\n%s", diff)
			}
			failingNetwork(t, mode)

			pod := podConfig("ahead")
			pod.Linux.CgroupParent = parent
			podID := runPod(t, d, pod)
			shim := onlyShim(t, d, "pod without containers")
			c1 := runContainer(t, d, podID, pod, ctrConfig("c1", img, "sleep", "3600"))
			c2 := runContainer(t, d, podID, pod, ctrConfig("c2", img, "sleep", "3600"))
			if got := onlyShim(t, d, "pod with two containers"); got != shim {
				t.Fatalf("the pod's containers run in shim %s, not in the one started with the pod (%s)", got, shim)
			}
			// The pod's last container goes (a pinned pod has no pause
			// task): its shim stays for the next one, as a restart needs.
			stopAndRemoveContainer(t, d, c1)
			stopAndRemoveContainer(t, d, c2)
			runContainer(t, d, podID, pod, ctrConfig("c3", img, "sleep", "3600"))
			if got := onlyShim(t, d, "the pod's next container"); got != shim {
				t.Fatalf("the pod's next container runs in shim %s, not in the pod's (%s)", got, shim)
			}
			stopPod(t, d, podID)
			removePod(t, d, podID)
			if diff := before.Diff(d.Resources(t, parent)); diff != "" {
				t.Fatalf("removed pod left behind:\n%s", diff)
			}
		})
	}
}

// failingNetwork: a pod whose network plugin fails its ADD leaves nothing
// behind, its shim spawned ahead included.
func failingNetwork(t *testing.T, mode string) {
	nw := testrig.NewPodNetwork()
	nw.FailADD = true
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: nw, Configure: func(c *config.Config) { c.SandboxMode = mode }})
	pod := podConfig("ahead-cnifail")
	pod.Linux.CgroupParent = d.CgroupParent("")
	if _, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: d.PauseImage}}); err != nil {
		t.Fatal(err)
	}
	before := d.Resources(t, pod.Linux.CgroupParent)
	for range 3 {
		if _, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: pod}); err == nil || !strings.Contains(err.Error(), "injected ADD failure") {
			t.Fatalf("RunPodSandbox with a failing plugin: %v", err)
		}
	}
	if diff := before.Diff(d.Resources(t, pod.Linux.CgroupParent)); diff != "" {
		t.Fatalf("RunPodSandbox whose network failed left behind:\n%s", diff)
	}
}
