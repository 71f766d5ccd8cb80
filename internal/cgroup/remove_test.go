package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/cgroups/v3"
)

func TestRemoveTree(t *testing.T) {
	// A hybrid host where /p/busy still holds something (a file stands
	// for the process that keeps a real cgroup's rmdir from succeeding).
	root := fakeTree(t, []string{"memory/p/a/b", "memory/p/c", "pids/p/a", "unified/p/a/b"}, map[string]string{
		"pids/p/busy/held": "",
	})
	h := Hierarchy{Root: root, Mode: cgroups.Hybrid}
	left, err := h.RemoveTree("/p")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, "pids/p/busy"), filepath.Join(root, "pids/p")}
	if !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
	for _, gone := range []string{"memory/p", "unified/p", "pids/p/a"} {
		if _, err := os.Stat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", gone, err)
		}
	}
	// Nothing there: nothing left, no error.
	if left, err := h.RemoveTree("/nothing"); err != nil || len(left) != 0 {
		t.Errorf("RemoveTree of a missing cgroup: %q, %v", left, err)
	}
	if _, err := h.RemoveTree("/"); err == nil {
		t.Error("RemoveTree(/): no error")
	}
	// A root that cannot be listed is an error, not "nothing left".
	bad := Hierarchy{Root: filepath.Join(root, "missing"), Mode: cgroups.Hybrid}
	if _, err := bad.RemoveTree("/p"); err == nil {
		t.Error("RemoveTree under a missing root: no error")
	}
}

func TestRemove(t *testing.T) {
	root := fakeTree(t, []string{"p/c", "p/d/child"}, nil)
	h := Hierarchy{Root: root, Mode: cgroups.Unified}
	if left, err := h.Remove("/p/c"); err != nil || len(left) != 0 {
		t.Errorf("Remove: %q, %v", left, err)
	}
	if left, err := h.Remove("/p/d"); err != nil || !slices.Equal(left, []string{filepath.Join(root, "p/d")}) {
		t.Errorf("Remove of a cgroup with a child: %q, %v", left, err)
	}
}
