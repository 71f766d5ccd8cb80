package mounts

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// A mount point whose path has a space (mountinfo writes it as \040) is
// found under its parent by its real path, and unmounted.
func TestUnderUnescapesPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	parent := t.TempDir()
	mp := filepath.Join(parent, "a b", "c")
	if err := os.MkdirAll(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mp, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mp, unix.MNT_DETACH) })
	if got := Under(parent); !slices.Equal(got, []string{mp}) {
		t.Fatalf("Under(%q) = %q, want [%q]", parent, got, mp)
	}
	if got := Under(mp); len(got) != 0 {
		t.Errorf("Under(%q) = %q: the mount point itself is not below itself", mp, got)
	}
	UnmountUnder(parent)
	if got := Under(parent); len(got) != 0 {
		t.Fatalf("after UnmountUnder: %q", got)
	}
}
