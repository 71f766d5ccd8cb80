package stats

import (
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
