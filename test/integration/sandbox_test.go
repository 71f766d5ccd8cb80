package integration

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

func podConfig(name string) *runtime.PodSandboxConfig {
	return &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: name, Namespace: "ns-" + name, Uid: "uid-" + name, Attempt: 1},
		Hostname:     name,
		Labels:       map[string]string{"app": name, "tier": "test"},
		Annotations:  map[string]string{"note": "hello " + name},
		LogDirectory: podLogDir(name),
		Linux:        &runtime.LinuxPodSandboxConfig{},
	}
}

func runPod(t *testing.T, d *testrig.Daemon, cfg *runtime.PodSandboxConfig) string {
	t.Helper()
	resp, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox(%s): %v", cfg.GetMetadata().GetName(), err)
	}
	return resp.PodSandboxId
}

func podStatus(t *testing.T, d *testrig.Daemon, id string) *runtime.PodSandboxStatus {
	t.Helper()
	resp, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		t.Fatalf("PodSandboxStatus(%s): %v", id, err)
	}
	return resp.Status
}

func stopPod(t *testing.T, d *testrig.Daemon, id string) {
	t.Helper()
	if _, err := d.Runtime.StopPodSandbox(d.Ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatalf("StopPodSandbox(%s): %v", id, err)
	}
}

func removePod(t *testing.T, d *testrig.Daemon, id string) {
	t.Helper()
	if _, err := d.Runtime.RemovePodSandbox(d.Ctx(), &runtime.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatalf("RemovePodSandbox(%s): %v", id, err)
	}
}

func listPods(t *testing.T, d *testrig.Daemon, f *runtime.PodSandboxFilter) []*runtime.PodSandbox {
	t.Helper()
	resp, err := d.Runtime.ListPodSandbox(d.Ctx(), &runtime.ListPodSandboxRequest{Filter: f})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Items
}

// reachable reports whether something answers at ip: a refused TCP
// connection proves the address is routed to a live network stack.
func reachable(ip string) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "9"), 2*time.Second)
	if err == nil {
		c.Close()
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func TestPodSandboxLifecycle(t *testing.T) { forEachHandler(t, testPodSandboxLifecycle) }

func testPodSandboxLifecycle(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	cfg := podConfig("lifecycle")
	id := runPodOn(t, d, cfg, handler)

	st := podStatus(t, d, id)
	if st.State != runtime.PodSandboxState_SANDBOX_READY || st.Id != id || st.CreatedAt == 0 {
		t.Fatalf("status = %v", st)
	}
	if st.Metadata.Name != "lifecycle" || st.Metadata.Uid != "uid-lifecycle" || st.Metadata.Attempt != 1 ||
		st.Labels["app"] != "lifecycle" || st.Annotations["note"] != "hello lifecycle" {
		t.Fatalf("metadata/labels/annotations not preserved: %v", st)
	}
	ip := st.GetNetwork().GetIp()
	_, subnet, _ := net.ParseCIDR(d.Network.Subnet)
	if parsed := net.ParseIP(ip); parsed == nil || !subnet.Contains(parsed) {
		t.Fatalf("pod IP %q not in %s", ip, d.Network.Subnet)
	}
	if !reachable(ip) {
		t.Fatalf("pod IP %s not reachable from the host", ip)
	}
	if got := d.Network.Allocations(t); len(got) != 1 || got[0] != ip {
		t.Fatalf("IPAM allocations %v, want [%s]", got, ip)
	}
	if fi, err := os.Stat(cfg.LogDirectory); err != nil || !fi.IsDir() {
		t.Errorf("log directory not created: %v", err)
	}

	verbose, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil || !strings.Contains(verbose.Info["info"], `"pid":`) || !strings.Contains(verbose.Info["info"], "cniResult") ||
		!strings.Contains(verbose.Info["info"], `"runtimeSpec"`) {
		t.Fatalf("verbose info = %v, %v", verbose.GetInfo(), err)
	}

	// List filters: full ID, ID prefix, state, labels.
	if got := listPods(t, d, &runtime.PodSandboxFilter{Id: id}); len(got) != 1 || got[0].Id != id {
		t.Errorf("list by id = %v", got)
	}
	if got := listPods(t, d, &runtime.PodSandboxFilter{Id: id[:12]}); len(got) != 1 {
		t.Errorf("list by id prefix = %v", got)
	}
	if got := listPods(t, d, &runtime.PodSandboxFilter{LabelSelector: map[string]string{"app": "lifecycle"}}); len(got) != 1 {
		t.Errorf("list by label = %v", got)
	}
	if got := listPods(t, d, &runtime.PodSandboxFilter{LabelSelector: map[string]string{"app": "other"}}); len(got) != 0 {
		t.Errorf("list by other label = %v", got)
	}
	if got := listPods(t, d, &runtime.PodSandboxFilter{State: &runtime.PodSandboxStateValue{State: runtime.PodSandboxState_SANDBOX_NOTREADY}}); len(got) != 0 {
		t.Errorf("list NOTREADY = %v", got)
	}

	stopPod(t, d, id)
	stopPod(t, d, id) // idempotent
	if st := podStatus(t, d, id); st.State != runtime.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("after stop: %v", st.State)
	}
	if got := d.Network.Allocations(t); len(got) != 0 {
		t.Errorf("IP still allocated after stop: %v", got)
	}
	if reachable(ip) {
		t.Errorf("pod IP %s still answers after stop", ip)
	}
	// The pause process cricket killed is no news: an operator reads a
	// warning about it as a pod whose pause died on its own.
	if strings.Contains(d.Log(), "pause process of sandbox exited") {
		t.Errorf("a normal stop logged the pause's exit as unexpected:\n%s", d.Log())
	}
	removePod(t, d, id)
	removePod(t, d, id) // idempotent
	_, err = d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: id})
	wantCode(t, err, codes.NotFound)
	stopPod(t, d, id) // unknown: still fine
	// The name is free again.
	id2 := runPodOn(t, d, cfg, handler)
	if id2 == id {
		t.Fatal("new sandbox reused the old ID")
	}
}

// TestPauseDeathMakesPodNotReady: a pause process that dies on its own
// (OOM killer, an operator's kill) ends the pod: NOTREADY, which tells
// kubelet to recreate it, and a warning in the log, unlike a stop's kill.
func TestPauseDeathMakesPodNotReady(t *testing.T) { forEachHandler(t, testPauseDeathMakesPodNotReady) }

func testPauseDeathMakesPodNotReady(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	id := runPodOn(t, d, podConfig("pausedies"), handler)
	pid, err := strconv.Atoi(pausePID(t, d, id))
	if err != nil || pid <= 0 {
		t.Fatalf("pause pid %d: %v", pid, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "pod NOTREADY after its pause died", func() bool {
		return podStatus(t, d, id).State == runtime.PodSandboxState_SANDBOX_NOTREADY
	})
	waitFor(t, 10*time.Second, "a warning naming the pod", func() bool {
		for _, line := range strings.Split(d.Log(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "pause process of sandbox exited") && strings.Contains(line, id) {
				return true
			}
		}
		return false
	})
	stopPod(t, d, id)
	removePod(t, d, id)
}

func TestSandboxNameIsReserved(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	id := runPod(t, d, podConfig("dup"))
	_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: podConfig("dup")})
	wantCode(t, err, codes.AlreadyExists)
	if !strings.Contains(err.Error(), id) {
		t.Fatalf("error does not name the existing sandbox %s: %v", id, err)
	}
}

// TestStopPodSandboxRacingStartContainer: once StopPodSandbox returned, no
// container of the pod runs, whatever StartContainer calls raced it; each
// start either ran before the stop (and was stopped by it) or was refused
// with FailedPrecondition.
func TestStopPodSandboxRacingStartContainer(t *testing.T) {
	forEachHandler(t, testStopPodSandboxRacingStartContainer)
}

func testStopPodSandboxRacingStartContainer(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	for round := range 3 {
		pod := podConfig(fmt.Sprintf("stoprace%d", round))
		podID := runPodOn(t, d, pod, handler)
		var ids []string
		for i := range 4 {
			ids = append(ids, createContainer(t, d, podID, pod, ctrConfig(fmt.Sprintf("c%d", i), img, "sleep", "3600")))
		}
		var wg sync.WaitGroup
		go1 := make(chan struct{})
		startErrs := make([]error, len(ids))
		for i, id := range ids {
			wg.Go(func() {
				<-go1
				// Spread the starts over the stop's course.
				time.Sleep(time.Duration(i) * 15 * time.Millisecond)
				_, startErrs[i] = d.Runtime.StartContainer(d.Ctx(), &runtime.StartContainerRequest{ContainerId: id})
			})
		}
		var stopErr error
		wg.Go(func() {
			<-go1
			_, stopErr = d.Runtime.StopPodSandbox(d.Ctx(), &runtime.StopPodSandboxRequest{PodSandboxId: podID})
		})
		close(go1)
		wg.Wait()
		if stopErr != nil {
			t.Fatalf("StopPodSandbox: %v", stopErr)
		}
		// Each start was refused, or ran before the stop, which stopped it.
		for i, id := range ids {
			if startErrs[i] != nil && codeOf(startErrs[i]) != codes.FailedPrecondition {
				t.Errorf("StartContainer(%s) racing the stop: %v, want success or FailedPrecondition", id, startErrs[i])
			}
			if st := containerStatus(t, d, id); st.State == runtime.ContainerState_CONTAINER_RUNNING {
				t.Errorf("round %d: container %s runs after its pod's stop returned (start error %v)", round, id, startErrs[i])
			}
		}
		removePod(t, d, podID)
	}
}
