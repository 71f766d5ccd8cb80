package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/cgroups/v3"
)

// fakeTree lays out a cgroup root in a temporary directory: one directory
// per entry of dirs (relative to the root), and files with their text.
func fakeTree(t *testing.T, dirs []string, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestPathsByMode(t *testing.T) {
	const path = "/kubepods/pod1/ctr"
	for _, c := range []struct {
		mode                    cgroups.CGMode
		name, memory, v2, v2dir string
	}{
		{cgroups.Legacy, "v1", "/r/memory/kubepods/pod1/ctr", "", ""},
		{cgroups.Hybrid, "hybrid", "/r/memory/kubepods/pod1/ctr", "/r/unified", "/r/unified/kubepods/pod1/ctr"},
		{cgroups.Unified, "unified", "/r/kubepods/pod1/ctr", "/r", "/r/kubepods/pod1/ctr"},
	} {
		h := Hierarchy{Root: "/r", Mode: c.mode}
		if got := h.Dir("memory", path); got != c.memory {
			t.Errorf("mode %d: Dir(memory) = %q, want %q", c.mode, got, c.memory)
		}
		if got := h.V2Root(); got != c.v2 {
			t.Errorf("mode %d: V2Root = %q, want %q", c.mode, got, c.v2)
		}
		if got := h.V2Dir(path); got != c.v2dir {
			t.Errorf("mode %d: V2Dir = %q, want %q", c.mode, got, c.v2dir)
		}
		if got := h.String(); got != "/r ("+c.name+")" {
			t.Errorf("mode %d: String = %q", c.mode, got)
		}
		if got := h.Unified(); got != (c.mode == cgroups.Unified) {
			t.Errorf("mode %d: Unified = %v", c.mode, got)
		}
	}
}

func TestRootsAndDirs(t *testing.T) {
	// A hybrid host: v1 controllers (cpu a link to the co-mounted
	// cpu,cpuacct), systemd's named hierarchy and the v2 one.
	root := fakeTree(t, []string{"cpu,cpuacct", "memory", "pids", "systemd", "unified"}, nil)
	if err := os.Symlink("cpu,cpuacct", filepath.Join(root, "cpu")); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []cgroups.CGMode{cgroups.Legacy, cgroups.Hybrid} {
		h := Hierarchy{Root: root, Mode: mode}
		got, err := h.Dirs("/p/c")
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, d := range []string{"cpu,cpuacct", "memory", "pids", "systemd", "unified"} {
			want = append(want, filepath.Join(root, d, "p/c"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("mode %d: Dirs = %q, want %q", mode, got, want)
		}
	}
	h := Hierarchy{Root: root, Mode: cgroups.Unified}
	if got, err := h.Dirs("/p/c"); err != nil || !slices.Equal(got, []string{filepath.Join(root, "p/c")}) {
		t.Errorf("unified: Dirs = %q, %v", got, err)
	}
	// What cannot be listed is an error, never "no hierarchy".
	for _, h := range []Hierarchy{
		{Root: filepath.Join(root, "missing"), Mode: cgroups.Hybrid},
		{Root: root, Mode: cgroups.Unavailable},
	} {
		if got, err := h.Roots(); err == nil {
			t.Errorf("Roots of %+v = %q, want an error", h, got)
		}
	}
}

func TestHasController(t *testing.T) {
	v1 := Hierarchy{Root: fakeTree(t, []string{"cpu", "memory", "unified/hugetlb-is-not-here"}, nil), Mode: cgroups.Hybrid}
	for ctrl, want := range map[string]bool{"memory": true, "cpu": true, "hugetlb": false} {
		if got, err := v1.HasController(ctrl); err != nil || got != want {
			t.Errorf("hybrid: HasController(%s) = %v, %v, want %v", ctrl, got, err, want)
		}
	}
	v2 := Hierarchy{Root: fakeTree(t, nil, map[string]string{"cgroup.controllers": "cpuset cpu io memory pids\n"}), Mode: cgroups.Unified}
	for ctrl, want := range map[string]bool{"memory": true, "cpuset": true, "hugetlb": false} {
		if got, err := v2.HasController(ctrl); err != nil || got != want {
			t.Errorf("unified: HasController(%s) = %v, %v, want %v", ctrl, got, err, want)
		}
	}
	broken := Hierarchy{Root: t.TempDir(), Mode: cgroups.Unified}
	if _, err := broken.HasController("memory"); err == nil {
		t.Error("unified root without cgroup.controllers: no error")
	}
}
