package cgroup

import (
	"slices"
	"testing"

	"github.com/containerd/cgroups/v3"
)

func TestProcsByMode(t *testing.T) {
	v1 := Hierarchy{Mode: cgroups.Hybrid, Root: fakeTree(t, nil, map[string]string{
		"pids/p/busy/cgroup.procs": "12\n34\n",
		"pids/p/busy/tasks":        "12\n34\n35\n36\n",
		"pids/p/busy/pids.max":     "max\n",
		"pids/p/idle/cgroup.procs": "",
		"pids/p/idle/tasks":        "",
		"pids/p/idle/pids.max":     "100\n",
		// The v2 side of a hybrid host is not where processes are read.
		"unified/p/idle/cgroup.procs": "99\n",
	})}
	v2 := Hierarchy{Mode: cgroups.Unified, Root: fakeTree(t, nil, map[string]string{
		"p/busy/cgroup.procs": "12\n34\n",
		"p/busy/pids.current": "4\n",
		"p/busy/pids.max":     "max\n",
		"p/idle/cgroup.procs": "",
		"p/idle/pids.current": "0\n",
		"p/idle/pids.max":     "100\n",
	})}
	for _, h := range []Hierarchy{v1, v2} {
		if got, err := h.Procs("/p/busy"); err != nil || !slices.Equal(got, []int{12, 34}) {
			t.Errorf("mode %d: Procs = %v, %v", h.Mode, got, err)
		}
		if n, err := h.Threads("/p/busy"); err != nil || n != 4 {
			t.Errorf("mode %d: Threads = %d, %v, want 4", h.Mode, n, err)
		}
		if n, err := h.PIDsMax("/p/busy"); err != nil || n != 0 {
			t.Errorf("mode %d: PIDsMax of max = %d, %v, want 0", h.Mode, n, err)
		}
		if n, err := h.PIDsMax("/p/idle"); err != nil || n != 100 {
			t.Errorf("mode %d: PIDsMax = %d, %v, want 100", h.Mode, n, err)
		}
		for path, want := range map[string]bool{"/p/busy": false, "/p/idle": true} {
			if got, err := h.Empty(path); err != nil || got != want {
				t.Errorf("mode %d: Empty(%s) = %v, %v, want %v", h.Mode, path, got, err, want)
			}
		}
		// Gone, or no path: it cannot tell, and says so.
		for _, path := range []string{"/p/gone", ""} {
			if got, err := h.Empty(path); err == nil || got {
				t.Errorf("mode %d: Empty(%q) = %v, %v, want an error", h.Mode, path, got, err)
			}
		}
	}
}

func TestParseIDs(t *testing.T) {
	if got, err := parseIDs("1\n 22\n\n333\n"); err != nil || !slices.Equal(got, []int{1, 22, 333}) {
		t.Errorf("parseIDs = %v, %v", got, err)
	}
	for _, bad := range []string{"1\nx\n", "-4\n", "0\n"} {
		if got, err := parseIDs(bad); err == nil {
			t.Errorf("parseIDs(%q) = %v, want an error", bad, got)
		}
	}
	for text, want := range map[string]uint64{"max\n": 0, "4096\n": 4096} {
		if got, err := parseLimit(text); err != nil || got != want {
			t.Errorf("parseLimit(%q) = %d, %v, want %d", text, got, err, want)
		}
	}
	if _, err := parseLimit("lots"); err == nil {
		t.Error("parseLimit(lots): no error")
	}
}
