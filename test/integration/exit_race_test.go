package integration

import (
	"fmt"
	"sync"
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// TestRemoveRacingExit: a container whose command ends at once, removed
// (or stopped, then removed) right after StartContainer, as critest's
// "Image Identifier Consistency" does. The kill then races the task's
// exit: the exit's task deletion closes containerd's connection to the
// task in the shim ("ttrpc: closed") or removes the task, and the kill
// meets either. Every call must succeed, and nothing may be left, with a
// pause container (the shim stays) and with pinned sandboxes (the shim
// goes away with the pod's last task).
func TestRemoveRacingExit(t *testing.T) { forEachHandler(t, testRemoveRacingExit) }

func testRemoveRacingExit(t *testing.T, handler string) {
	for _, mode := range []string{config.SandboxModePause, config.SandboxModePinned} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			d := handlerDaemon(t, testrig.DaemonOptions{Configure: func(c *config.Config) {
				c.SandboxMode = mode
			}})
			removeRacingExit(t, d, handler)
		})
	}
}

func removeRacingExit(t *testing.T, d *testrig.Daemon, handler string) {
	const pods, iterations = 3, 30
	img := busybox(t, d)
	parent := d.CgroupParent("")
	base := d.Resources(t, parent)
	podIDs, cfgs := make([]string, pods), make([]*runtime.PodSandboxConfig, pods)
	for i := range pods {
		cfgs[i] = kubeletPod(fmt.Sprintf("race-%d", i))
		cfgs[i].Linux.CgroupParent = parent
		podIDs[i] = runPodOn(t, d, cfgs[i], handler)
	}
	withPods := d.Resources(t, parent)

	var wg sync.WaitGroup
	for p := range pods {
		wg.Go(func() {
			for i := range iterations {
				cfg := ctrConfig("true", img, "true")
				cfg.Metadata.Attempt = uint32(i)
				resp, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podIDs[p], Config: cfg, SandboxConfig: cfgs[p]})
				if err != nil {
					t.Errorf("pod %d, iteration %d: CreateContainer: %v", p, i, err)
					return
				}
				id := resp.ContainerId
				if _, err := d.Runtime.StartContainer(d.Ctx(), &runtime.StartContainerRequest{ContainerId: id}); err != nil {
					t.Errorf("pod %d, iteration %d: StartContainer(%s): %v", p, i, id, err)
					return
				}
				// Every other iteration stops first, as kubelet does.
				if i%2 == 1 {
					if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: id}); err != nil {
						t.Errorf("pod %d, iteration %d: StopContainer(%s) right after its start: %v", p, i, id, err)
					}
				}
				if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: id}); err != nil {
					t.Errorf("pod %d, iteration %d: RemoveContainer(%s) right after its start: %v", p, i, id, err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	resp, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Containers) != 0 {
		t.Errorf("%d containers still listed after their removal", len(resp.Containers))
	}
	// The shims of pinned pods exit with their last task: only what the
	// pods hold without a container may remain.
	if diff := withPods.Diff(d.Resources(t, parent)); diff != "" {
		t.Errorf("removed containers left:\n%s", diff)
	}
	for _, id := range podIDs {
		stopPod(t, d, id)
		removePod(t, d, id)
	}
	if diff := base.Diff(d.Resources(t, parent)); diff != "" {
		t.Errorf("removed pods left:\n%s", diff)
	}
}
