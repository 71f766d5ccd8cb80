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

// AnyBelow sees a mount however deep below the directory, and nothing in a
// tree of plain files and directories, a mount on the directory itself
// included (that one is not below it).
func TestAnyBelow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := AnyBelow(dir); got || err != nil {
		t.Fatalf("AnyBelow(plain tree) = %v, %v", got, err)
	}
	if err := unix.Mount("tmpfs", deep, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(deep, unix.MNT_DETACH) })
	if got, err := AnyBelow(dir); !got || err != nil {
		t.Fatalf("AnyBelow(tree with a mount at a/b) = %v, %v", got, err)
	}
	if got, err := AnyBelow(deep); got || err != nil {
		t.Fatalf("AnyBelow(the mount point itself) = %v, %v", got, err)
	}
	// A bind mount of the same filesystem is a mount of its own.
	unix.Unmount(deep, unix.MNT_DETACH)
	if err := unix.Mount(filepath.Join(dir, "a"), deep, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := AnyBelow(dir); !got || err != nil {
		t.Fatalf("AnyBelow(tree with a bind mount) = %v, %v", got, err)
	}
	UnmountUnder(dir)
	if got, err := AnyBelow(dir); got || err != nil {
		t.Fatalf("AnyBelow after UnmountUnder = %v, %v", got, err)
	}
}
