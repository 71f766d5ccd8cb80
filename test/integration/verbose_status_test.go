package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// The verbose ContainerStatus and PodSandboxStatus (crictl inspect,
// critest's benchmark) carry what they read: the pid, the runtime spec as
// containerd holds it (an update's new limits included), the IDs and
// directories; after a restart of cricketd too. The test also times the
// verbose calls against the plain ones (the first call on a new container,
// as crictl inspect and critest make it, and repeated calls).
func TestVerboseStatus(t *testing.T) {
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	img := busybox(t, d)
	pod := podConfig("verbose")
	podID := runPod(t, d, pod)
	cfg := ctrConfig("app", img, "sleep", "3600")
	cfg.Linux.Resources = &runtime.LinuxContainerResources{CpuShares: 512}
	id := runContainer(t, d, podID, pod, cfg)

	type ctrInfo struct {
		SandboxID   string `json:"sandboxID"`
		PID         uint32 `json:"pid"`
		ImageID     string `json:"imageID"`
		Dir         string `json:"stateDir"`
		StopSignal  string `json:"stopSignal"`
		RuntimeSpec *struct {
			Process struct{ Args []string }
			Linux   struct {
				Resources struct{ CPU struct{ Shares uint64 } }
			}
		} `json:"runtimeSpec"`
	}
	ctrVerbose := func(want uint64) {
		t.Helper()
		resp, err := d.Runtime.ContainerStatus(d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: id, Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		var info ctrInfo
		if err := json.Unmarshal([]byte(resp.Info["info"]), &info); err != nil {
			t.Fatalf("info %q: %v", resp.Info["info"], err)
		}
		t.Logf("verbose container info: %d bytes", len(resp.Info["info"]))
		if info.SandboxID != podID || info.PID == 0 || info.ImageID == "" || info.Dir == "" || info.StopSignal == "" {
			t.Errorf("info %+v", info)
		}
		if info.RuntimeSpec == nil || !slices.Equal(info.RuntimeSpec.Process.Args, cfg.Command) ||
			info.RuntimeSpec.Linux.Resources.CPU.Shares != want {
			t.Errorf("runtimeSpec %+v, want args %v and CPU shares %d", info.RuntimeSpec, cfg.Command, want)
		}
		if got := execOut(t, d, id, "sh", "-c", "echo $PPID"); got == "" {
			t.Error("no exec output")
		}
	}
	ctrVerbose(512)
	if _, err := d.Runtime.UpdateContainerResources(d.Ctx(), &runtime.UpdateContainerResourcesRequest{
		ContainerId: id, Linux: &runtime.LinuxContainerResources{CpuShares: 256}}); err != nil {
		t.Fatal(err)
	}
	ctrVerbose(256)

	sbVerbose := func() {
		t.Helper()
		var info struct {
			PID         uint32 `json:"pid"`
			Mode        string `json:"sandboxMode"`
			Dir         string `json:"stateDir"`
			RuntimeSpec *struct {
				Hostname string
			} `json:"runtimeSpec"`
		}
		if err := json.Unmarshal([]byte(sandboxInfo(t, d, podID)), &info); err != nil {
			t.Fatal(err)
		}
		if info.PID == 0 || info.Mode != "pause" || info.Dir == "" || info.RuntimeSpec == nil || info.RuntimeSpec.Hostname != "verbose" {
			t.Errorf("sandbox info %+v", info)
		}
	}
	sbVerbose()

	timeCalls(t, d, podID, id, img, pod)

	// A restarted cricketd reads what it no longer holds.
	d.Stop()
	d.Start()
	ctrVerbose(256)
	sbVerbose()
}

// timeCalls logs the median durations of the status calls, verbose and
// not: the first verbose call on each of a few new containers, then
// repeated calls on one container and its pod.
func timeCalls(t *testing.T, d *testrig.Daemon, podID, id, img string, pod *runtime.PodSandboxConfig) {
	t.Helper()
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	// Alternately the plain and the verbose call, each the first call on
	// a container just created.
	var first [2][]time.Duration
	for i := range 20 {
		cid := createContainer(t, d, podID, pod, ctrConfig("timed-"+strconv.Itoa(i), img, "true"))
		start := time.Now()
		if _, err := d.Runtime.ContainerStatus(d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: cid, Verbose: i%2 == 1}); err != nil {
			t.Fatal(err)
		}
		first[i%2] = append(first[i%2], time.Since(start))
	}
	const n = 200
	timed := func(f func() error) time.Duration {
		ds := make([]time.Duration, 0, n)
		for range n {
			start := time.Now()
			if err := f(); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		return median(ds)
	}
	ctr := func(verbose bool) func() error {
		return func() error {
			_, err := d.Runtime.ContainerStatus(d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: id, Verbose: verbose})
			return err
		}
	}
	sb := func(verbose bool) func() error {
		return func() error {
			_, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: verbose})
			return err
		}
	}
	var out string
	for _, r := range []struct {
		name string
		f    func() error
	}{
		{"ContainerStatus", ctr(false)}, {"ContainerStatus verbose", ctr(true)},
		{"PodSandboxStatus", sb(false)}, {"PodSandboxStatus verbose", sb(true)},
	} {
		out += fmt.Sprintf("\n  %-26s median of %d: %v", r.name, n, timed(r.f))
	}
	t.Logf("status call durations:\n  %-26s median of %d: %v\n  %-26s median of %d: %v%s",
		"ContainerStatus, first", len(first[0]), median(first[0]), "ContainerStatus verbose, first", len(first[1]), median(first[1]), out)
}
