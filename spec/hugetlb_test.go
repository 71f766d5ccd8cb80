package spec

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/cgroups/v3"

	"github.com/cricket-cri/cricket/internal/cgroup"
)

func TestPageSizeName(t *testing.T) {
	for n, want := range map[uint64]string{2 << 20: "2MB", 1 << 30: "1GB", 64 << 10: "64KB", 32 << 20: "32MB", 16 << 30: "16GB"} {
		if got := pageSizeName(n); got != want {
			t.Errorf("pageSizeName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHostHugetlbSizes(t *testing.T) {
	mm := t.TempDir()
	for _, d := range []string{"hugepages-2048kB", "hugepages-1048576kB", "not-a-pool"} {
		if err := os.Mkdir(filepath.Join(mm, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	v1WithHugetlb, v1Without := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(v1WithHugetlb, "hugetlb"), 0o755)
	os.Mkdir(filepath.Join(v1Without, "memory"), 0o755)
	v2With, v2Without := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(v2With, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids\n"), 0o644)
	os.WriteFile(filepath.Join(v2Without, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	both := []string{"1GB", "2MB"}
	for _, tc := range []struct {
		name    string
		root    string
		unified bool
		want    []string
	}{
		// This host's layout: v1 without hugetlb mounted (it is on the
		// v2 side only, which runc does not use for limits).
		{"v1 without hugetlb", v1Without, false, nil},
		{"v1 with hugetlb", v1WithHugetlb, false, both},
		{"v2 with hugetlb", v2With, true, both},
		{"v2 without hugetlb", v2Without, true, nil},
	} {
		h := cgroup.Hierarchy{Root: tc.root, Mode: cgroups.Legacy}
		if tc.unified {
			h.Mode = cgroups.Unified
		}
		got := hostHugetlbSizes(h, mm)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
