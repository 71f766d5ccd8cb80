package stats

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestContainerMetricsPressure(t *testing.T) {
	in := ContainerInput{ID: "c1", Name: "app", Sample: &Sample{Time: time.Now(),
		CPUPressure:    &Pressure{Some: &PSILine{Total: 2500 * time.Millisecond}, Full: &PSILine{Total: 1200 * time.Millisecond}},
		MemoryPressure: &Pressure{Some: &PSILine{Total: 3 * time.Second}}, // no full line
	}}
	got := map[string]uint64{}
	for _, m := range ContainerMetrics(in) {
		if strings.HasPrefix(m.Name, "container_pressure_") {
			if len(m.LabelValues) != len(BaseLabels) {
				t.Errorf("%s has labels %v", m.Name, m.LabelValues)
			}
			got[m.Name] = m.Value.Value
		}
	}
	want := map[string]uint64{
		"container_pressure_cpu_waiting_seconds_total":    2,
		"container_pressure_cpu_stalled_seconds_total":    1,
		"container_pressure_memory_waiting_seconds_total": 3,
	}
	if len(got) != len(want) {
		t.Errorf("pressure metrics %v, want %v (none for a missing file or full line)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}

	described := map[string]bool{}
	for _, d := range Descriptors() {
		described[d.Name] = true
	}
	for _, r := range []string{"cpu", "memory", "io"} {
		for _, k := range []string{"waiting", "stalled"} {
			if name := "container_pressure_" + r + "_" + k + "_seconds_total"; !described[name] {
				t.Errorf("no descriptor for %s", name)
			}
		}
	}
}

// Every metric is described once, and a container's metrics are those
// described, with the base labels and the metric's own, in the units
// cAdvisor uses.
func TestContainerMetricsMatchTheirDescriptors(t *testing.T) {
	keys := map[string]int{}
	for _, d := range Descriptors() {
		if _, dup := keys[d.Name]; dup {
			t.Errorf("%s described twice", d.Name)
		}
		keys[d.Name] = len(d.LabelKeys)
	}
	started := time.Unix(1700000000, 0)
	in := ContainerInput{ID: "c1", Image: "busybox", Namespace: "ns", Pod: "web", Name: "app",
		Sample: &Sample{Time: time.Now(), CPUUsageNanos: 2500e6, CFSThrottledNs: 3e9, MemoryUsage: 100, InactiveFile: 30,
			PageFaults: 50, MajorPageFaults: 3, IO: []DeviceIO{{Major: 1 << 20, Minor: 7, ReadBytes: 10, WriteBytes: 20, Reads: 1, Writes: 2}}},
		Processes: Processes{Processes: 2, Threads: 5},
		FS:        FS{Device: "/dev/vda", UsedBytes: 4096},
		StartedAt: started,
	}
	got := map[string][]uint64{}
	for _, m := range ContainerMetrics(in) {
		n, ok := keys[m.Name]
		if !ok {
			t.Errorf("%s is not described", m.Name)
			continue
		}
		if len(m.LabelValues) != n || m.LabelValues[0] != "c1" || m.LabelValues[4] != "app" {
			t.Errorf("%s labels %q, want %d starting with the base ones", m.Name, m.LabelValues, n)
		}
		got[m.Name] = append(got[m.Name], m.Value.Value)
	}
	for name, want := range map[string][]uint64{
		"container_cpu_usage_seconds_total":         {2},
		"container_cpu_cfs_throttled_seconds_total": {3},
		"container_memory_working_set_bytes":        {70},
		// pgfault and pgmajfault, for the container and the hierarchy.
		"container_memory_failures_total":    {47, 3, 47, 3},
		"container_blkio_device_usage_total": {10, 20},
		"container_fs_reads_total":           {1},
		"container_fs_usage_bytes":           {4096},
		"container_processes":                {2},
		"container_threads":                  {5},
		"container_start_time_seconds":       {1700000000},
	} {
		if !slices.Equal(got[name], want) {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if _, ok := got["container_pressure_cpu_waiting_seconds_total"]; ok {
		t.Error("pressure reported without PSI")
	}
	in.StartedAt = time.Time{}
	for _, m := range ContainerMetrics(in) {
		if m.Name == "container_start_time_seconds" {
			t.Error("a start time reported for a container not started")
		}
	}
}

func TestPodNetworkMetrics(t *testing.T) {
	ms := PodNetworkMetrics("p1", "ns", "web", []Interface{{Name: "eth0", RxBytes: 1, TxDrops: 2}, {Name: "net1"}})
	if len(ms) != 16 {
		t.Fatalf("%d metrics for two interfaces, want 16", len(ms))
	}
	for _, m := range ms {
		if want := []string{"p1", "", "ns", "web", "POD"}; !slices.Equal(m.LabelValues[:5], want) || len(m.LabelValues) != 6 {
			t.Errorf("%s labels %q", m.Name, m.LabelValues)
		}
	}
	if ms[0].Name != "container_network_receive_bytes_total" || ms[0].Value.Value != 1 || ms[0].LabelValues[5] != "eth0" ||
		ms[7].Name != "container_network_transmit_packets_dropped_total" || ms[7].Value.Value != 2 {
		t.Errorf("eth0's metrics: %v ... %v", ms[0], ms[7])
	}
	if PodNetworkMetrics("p1", "ns", "web", nil) != nil {
		t.Error("metrics for a pod without interfaces")
	}
}
