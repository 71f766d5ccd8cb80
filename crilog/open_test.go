package crilog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// TestOpenReplacesHardLink: a hard link at the log path to a file outside
// the log directory must not receive the container's output; a new file
// takes the name, at Open and at Reopen.
func TestOpenReplacesHardLink(t *testing.T) {
	forEachResolver(t, func(t *testing.T) {
		base := t.TempDir()
		dir, outside := filepath.Join(base, "logs"), filepath.Join(base, "outside")
		mkdir(t, dir)
		mkdir(t, outside)
		mkdir(t, filepath.Join(dir, "ctr"))
		victim := filepath.Join(outside, "victim")
		if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "ctr", "0.log")
		if err := os.Link(victim, link); err != nil {
			t.Fatal(err)
		}

		f, err := Open(dir, "ctr/0.log", 64)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.Copy(Stdout, strings.NewReader("first\n"))
		checkRecords(t, readRecords(t, link), []want{{Stdout, false, "first"}})
		checkVictim(t, victim, link)

		// kubelet's rotation renames the file; a link put in its place
		// before ReopenContainerLog is replaced the same way.
		if err := os.Rename(link, link+".1"); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(victim, link); err != nil {
			t.Fatal(err)
		}
		if err := f.Reopen(); err != nil {
			t.Fatal(err)
		}
		f.Copy(Stdout, strings.NewReader("second\n"))
		checkRecords(t, readRecords(t, link), []want{{Stdout, false, "second"}})
		checkVictim(t, victim, link)
	})
}

// checkVictim requires the linked file to hold what it held and to be no
// longer the log file.
func checkVictim(t *testing.T, victim, log string) {
	t.Helper()
	if data, _ := os.ReadFile(victim); string(data) != "keep" {
		t.Errorf("the linked file now holds %q", data)
	}
	var v, l unix.Stat_t
	if err := unix.Stat(victim, &v); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(log, &l); err != nil {
		t.Fatal(err)
	}
	if v.Ino == l.Ino || v.Nlink != 1 || l.Nlink != 1 {
		t.Errorf("log inode %d (%d links), linked file inode %d (%d links): want two files with one name each", l.Ino, l.Nlink, v.Ino, v.Nlink)
	}
}

// TestOpenRefusesWhatIsNotARegularFile: a FIFO (which an open for writing
// would block on), a directory or a socket at the log path is refused and
// left alone.
func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	for name, make := range map[string]func(string) error{
		"fifo":      func(p string) error { return unix.Mkfifo(p, 0o644) },
		"directory": func(p string) error { return os.Mkdir(p, 0o755) },
		"socket":    func(p string) error { return unix.Mknod(p, unix.S_IFSOCK|0o644, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			forEachResolver(t, func(t *testing.T) {
				dir := t.TempDir()
				if err := make(filepath.Join(dir, "0.log")); err != nil {
					t.Fatal(err)
				}
				before := listTree(t, dir)
				f, err := Open(dir, "0.log", 64)
				if err == nil {
					f.Close()
					t.Fatal("Open succeeded")
				}
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("Open = %v, want an invalid argument error saying it is not a regular file", err)
				}
				if got := listTree(t, dir); !slices.Equal(got, before) {
					t.Errorf("log directory changed from %q to %q", before, got)
				}
			})
		})
	}
}

// TestReopenRefusesFIFOAndKeepsOldFile: a FIFO in place of the rotated
// file does not block Reopen, and records keep going to the old file.
func TestReopenRefusesFIFOAndKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(dir, "0.log", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := f.Path() + ".1"
	if err := os.Rename(f.Path(), old); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(f.Path(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("Reopen onto a FIFO = %v, want an invalid argument error", err)
	}
	f.Copy(Stdout, strings.NewReader("after\n"))
	checkRecords(t, readRecords(t, old), []want{{Stdout, false, "after"}})
}
