package integration

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// TestShimKilled: kill -9 of a pod's shim, runc's or cricket's, ends its
// containers, which are then reported exited with 137 (containerd runs the
// shim's delete command for each of its tasks and reports what it
// returns); a pause pod is NOTREADY, a pinned pod runs a new container in a
// new shim. Removing the pod then leaves nothing behind: no process,
// cgroup, mount, containerd object, shim or shim socket.
func TestShimKilled(t *testing.T) {
	for _, shim := range []struct{ handler, binary string }{
		{config.RuncRuntimeHandler, "containerd-shim-runc-v2"},
		{cricketHandler, "containerd-shim-cricket-v1"},
	} {
		for _, mode := range []string{config.SandboxModePause, config.SandboxModePinned} {
			t.Run(shim.handler+"/"+mode, func(t *testing.T) {
				testShimKilled(t, shim.handler, shim.binary, mode)
			})
		}
	}
}

func testShimKilled(t *testing.T, handler, binary, mode string) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Configure: func(c *config.Config) {
		c.SandboxMode = mode
	}})
	img := busybox(t, d)
	parent := d.CgroupParent("")
	if mode == config.SandboxModePause {
		pull(t, d, d.PauseImage)
	}
	before := d.Resources(t, parent)
	pod := kubeletPod("shim-killed")
	pod.Linux.CgroupParent = parent
	podID := runPodOn(t, d, pod, handler)
	c1 := runContainer(t, d, podID, pod, ctrConfig("c1", img, "sleep", "3600"))
	c2 := runContainer(t, d, podID, pod, ctrConfig("c2", img, "sh", "-c", "trap '' TERM; sleep 3600"))
	created := createContainer(t, d, podID, pod, ctrConfig("created", img, "true"))
	shim, _ := strconv.Atoi(onlyShimOf(t, d, binary, "pod with containers"))

	if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{c1, c2} {
		st := waitState(t, d, c, runtime.ContainerState_CONTAINER_EXITED)
		if st.ExitCode != 137 {
			t.Errorf("container %s of a killed shim exited %d (%s), want 137", c, st.ExitCode, st.Reason)
		}
	}
	if mode == config.SandboxModePause {
		waitFor(t, 30*time.Second, "pod NOTREADY after its shim died", func() bool {
			return podStatus(t, d, podID).State == runtime.PodSandboxState_SANDBOX_NOTREADY
		})
	} else {
		// The pod's namespaces outlive its shim: kubelet's next
		// container gets a new shim.
		if st := podStatus(t, d, podID); st.State != runtime.PodSandboxState_SANDBOX_READY {
			t.Errorf("pinned pod after its shim died: %v", st.State)
		}
		c3 := runContainer(t, d, podID, pod, ctrConfig("c3", img, "sleep", "3600"))
		if got := execOut(t, d, c3, "hostname"); got != pod.Hostname {
			t.Errorf("hostname %q in a container after the shim died", got)
		}
		if new, _ := strconv.Atoi(onlyShimOf(t, d, binary, "after a new container")); new == shim {
			t.Errorf("the killed shim %d still serves", shim)
		}
	}
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: created}); err != nil {
		t.Errorf("remove the created container of a dead shim: %v", err)
	}
	stopPod(t, d, podID)
	removePod(t, d, podID)
	if diff := before.Diff(d.Resources(t, parent)); diff != "" {
		t.Fatalf("pod whose shim was killed left behind:\n%s", diff)
	}
}
