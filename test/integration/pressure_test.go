package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// hostHasPSI reports whether this host's cgroup v2 hierarchy (unified, or
// the v2 part of a hybrid one) has pressure files.
func hostHasPSI() bool {
	root := cgroup.Host().V2Root()
	if root == "" {
		return false
	}
	_, err := os.ReadFile(filepath.Join(root, "cpu.pressure"))
	return err == nil
}

// A CPU-bound container held to a tenth of a CPU is throttled most of the
// time: its tasks are runnable and wait, which the kernel counts as CPU
// pressure of the container's cgroup and of the pod's.
func TestPressureStallInformation(t *testing.T) { forEachHandler(t, testPressureStallInformation) }

func testPressureStallInformation(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{Configure: func(c *config.Config) {
		c.StatsCollectPeriod = config.Duration(time.Second)
	}})
	img := busybox(t, d)
	pod := podConfig("psi")
	pod.Linux.CgroupParent = d.CgroupParent("pod-psi")
	podID := runPodOn(t, d, pod, handler)
	cfg := ctrConfig("spin", img, "sh", "-c", "while :; do :; done")
	cfg.Linux.Resources = &runtime.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 10000}
	id := runContainer(t, d, podID, pod, cfg)

	ctrStats := func() *runtime.ContainerStats {
		resp, err := d.Runtime.ContainerStats(d.Ctx(), &runtime.ContainerStatsRequest{ContainerId: id})
		if err != nil {
			t.Fatalf("ContainerStats: %v", err)
		}
		return resp.Stats
	}
	podStats := func() *runtime.PodSandboxStats {
		resp, err := d.Runtime.PodSandboxStats(d.Ctx(), &runtime.PodSandboxStatsRequest{PodSandboxId: podID})
		if err != nil {
			t.Fatalf("PodSandboxStats: %v", err)
		}
		return resp.Stats
	}

	if !hostHasPSI() {
		// Nothing to report: no figures rather than zeros.
		cs, ps := ctrStats(), podStats()
		if cs.Cpu.Psi != nil || cs.Memory.Psi != nil || cs.Io != nil || ps.Linux.Cpu.Psi != nil || ps.Linux.Io != nil {
			t.Errorf("pressure without PSI on the host: container %v, pod %v", cs, ps.Linux)
		}
		t.Skip("the host has no pressure files")
	}

	var first *runtime.ContainerStats
	waitFor(t, 30*time.Second, "the throttled container's CPU pressure", func() bool {
		first = ctrStats()
		return first.GetCpu().GetPsi().GetSome().GetTotal() > 0
	}, func() string { return fmt.Sprintf("last: %v", first) })
	checkPsi(t, "container", first.Cpu.Psi, first.Memory.Psi, first.Io)
	if first.Io.Timestamp == 0 {
		t.Errorf("container io usage without a timestamp: %v", first.Io)
	}

	var ps *runtime.PodSandboxStats
	waitFor(t, 30*time.Second, "the pod's CPU pressure", func() bool {
		ps = podStats()
		return ps.GetLinux().GetCpu().GetPsi().GetSome().GetTotal() > 0
	}, func() string { return fmt.Sprintf("last: %v", ps.GetLinux()) })
	checkPsi(t, "pod", ps.Linux.Cpu.Psi, ps.Linux.Memory.Psi, ps.Linux.Io)
	if len(ps.Linux.Containers) != 1 || ps.Linux.Containers[0].GetCpu().GetPsi() == nil {
		t.Errorf("pod stats' container entry lacks pressure: %v", ps.Linux.Containers)
	}

	// Cumulative: a later sample has more.
	var later *runtime.ContainerStats
	waitFor(t, 30*time.Second, "the container's CPU pressure total to grow", func() bool {
		later = ctrStats()
		return later.GetCpu().GetPsi().GetSome().GetTotal() > first.Cpu.Psi.Some.Total
	}, func() string { return fmt.Sprintf("first %v, last %v", first.Cpu.Psi, later.GetCpu().GetPsi()) })
	checkPsi(t, "container (later)", later.Cpu.Psi, later.Memory.Psi, later.Io)

	// The lists carry the same figures.
	list, err := d.Runtime.ListContainerStats(d.Ctx(), &runtime.ListContainerStatsRequest{Filter: &runtime.ContainerStatsFilter{Id: id}})
	if err != nil || len(list.Stats) != 1 {
		t.Fatalf("ListContainerStats: %v, %v", list, err)
	}
	checkPsi(t, "listed container", list.Stats[0].Cpu.Psi, list.Stats[0].Memory.Psi, list.Stats[0].Io)
	plist, err := d.Runtime.ListPodSandboxStats(d.Ctx(), &runtime.ListPodSandboxStatsRequest{Filter: &runtime.PodSandboxStatsFilter{Id: podID}})
	if err != nil || len(plist.Stats) != 1 {
		t.Fatalf("ListPodSandboxStats: %v, %v", plist, err)
	}
	checkPsi(t, "listed pod", plist.Stats[0].Linux.Cpu.Psi, plist.Stats[0].Linux.Memory.Psi, plist.Stats[0].Linux.Io)

	// Metrics, in cAdvisor's names: whole seconds of waiting, which a
	// container throttled 90% of the time accrues within seconds.
	var waited uint64
	waitFor(t, 30*time.Second, "container_pressure_cpu_waiting_seconds_total >= 1", func() bool {
		waited = containerMetric(t, d, podID, id, "container_pressure_cpu_waiting_seconds_total")
		return waited >= 1
	}, func() string { return fmt.Sprintf("last %d", waited) })
}

// checkPsi checks a CPU, memory and IO pressure set: all present, averages
// shares of 0-100%, and no stall longer than the wait that includes it
// (full counts time when every task waited, some when any did).
func checkPsi(t *testing.T, what string, cpu, mem *runtime.PsiStats, io *runtime.IoUsage) {
	t.Helper()
	if cpu == nil || mem == nil || io.GetPsi() == nil {
		t.Errorf("%s: pressure cpu %v, memory %v, io %v: want all three", what, cpu, mem, io)
		return
	}
	for name, p := range map[string]*runtime.PsiStats{"cpu": cpu, "memory": mem, "io": io.Psi} {
		if p.Some == nil {
			t.Errorf("%s %s pressure without a some line: %v", what, name, p)
			continue
		}
		for _, d := range []*runtime.PsiData{p.Some, p.Full} {
			if d == nil {
				continue
			}
			for _, avg := range []float64{d.Avg10, d.Avg60, d.Avg300} {
				if avg < 0 || avg > 100 {
					t.Errorf("%s %s pressure average %v outside 0-100%%: %v", what, name, avg, p)
				}
			}
		}
		if p.Full != nil && p.Full.Total > p.Some.Total {
			t.Errorf("%s %s pressure: full total %d above some total %d", what, name, p.Full.Total, p.Some.Total)
		}
	}
}

// containerMetric returns a container's value of a metric from
// ListPodSandboxMetrics, failing the test when there is none.
func containerMetric(t *testing.T, d *testrig.Daemon, podID, ctrID, name string) uint64 {
	t.Helper()
	resp, err := d.Runtime.ListPodSandboxMetrics(d.Ctx(), &runtime.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatalf("ListPodSandboxMetrics: %v", err)
	}
	for _, pm := range resp.PodMetrics {
		for _, cm := range pm.GetContainerMetrics() {
			if pm.PodSandboxId != podID || cm.ContainerId != ctrID {
				continue
			}
			for _, m := range cm.Metrics {
				if m.Name == name {
					return m.GetValue().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s for container %s", name, ctrID)
	return 0
}
