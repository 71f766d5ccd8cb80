package crilog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func TestOpenCreatesFileAndParents(t *testing.T) {
	forEachResolver(t, func(t *testing.T) {
		defer unix.Umask(unix.Umask(0o022))
		dir := t.TempDir()
		f, err := Open(dir, "pod_ctr/./sub//0.log", 64)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if want := filepath.Join(dir, "pod_ctr", "sub", "0.log"); f.Path() != want {
			t.Errorf("Path() = %q, want %q", f.Path(), want)
		}
		for p, mode := range map[string]os.FileMode{
			"pod_ctr":           os.ModeDir | 0o755,
			"pod_ctr/sub":       os.ModeDir | 0o755,
			"pod_ctr/sub/0.log": 0o640,
		} {
			fi, err := os.Lstat(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != mode {
				t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
			}
		}
		f.Copy(Stdout, strings.NewReader("hello world\n"))
		checkRecords(t, readRecords(t, f.Path()), []want{{Stdout, false, "hello world"}})

		// Without missing parents the file is created on the first try.
		top, err := Open(dir, "0.log", 64)
		if err != nil {
			t.Fatal(err)
		}
		defer top.Close()
		if fi, err := os.Lstat(top.Path()); err != nil || fi.Mode() != 0o640 {
			t.Errorf("0.log: %v, %v; want mode 0640", fi, err)
		}
	})
}

func TestOpenAppendsToExistingFile(t *testing.T) {
	forEachResolver(t, func(t *testing.T) {
		dir := t.TempDir()
		first, err := Open(dir, "0.log", 64)
		if err != nil {
			t.Fatal(err)
		}
		first.Copy(Stdout, strings.NewReader("first\n"))
		first.Close()

		second, err := Open(dir, "0.log", 64)
		if err != nil {
			t.Fatal(err)
		}
		second.Copy(Stderr, strings.NewReader("second\n"))
		second.Close()
		checkRecords(t, readRecords(t, second.Path()), []want{{Stdout, false, "first"}, {Stderr, false, "second"}})
	})
}

func TestOpenRejectsPathsOutsideDir(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rel   string
		setup func(t *testing.T, dir, outside string)
	}{
		{name: "dot dot", rel: "../x"},
		{name: "dot dot inside", rel: "ctr/../../x"},
		{name: "dot dot that stays inside", rel: "ctr/../0.log"},
		{name: "absolute", rel: "/OUTSIDE/x"},
		{name: "empty", rel: ""},
		{name: "the directory itself", rel: "."},
		{
			name: "symlinked directory",
			rel:  "link/0.log",
			setup: func(t *testing.T, dir, outside string) {
				symlink(t, outside, filepath.Join(dir, "link"))
			},
		},
		{
			name: "symlinked directory deeper down",
			rel:  "ctr/link/sub/0.log",
			setup: func(t *testing.T, dir, outside string) {
				mkdir(t, filepath.Join(dir, "ctr"))
				symlink(t, outside, filepath.Join(dir, "ctr", "link"))
			},
		},
		{
			name: "symlinked directory pointing inside",
			rel:  "link/0.log",
			setup: func(t *testing.T, dir, outside string) {
				mkdir(t, filepath.Join(dir, "real"))
				symlink(t, filepath.Join(dir, "real"), filepath.Join(dir, "link"))
			},
		},
		{
			name: "dangling symlinked file",
			rel:  "ctr/0.log",
			setup: func(t *testing.T, dir, outside string) {
				mkdir(t, filepath.Join(dir, "ctr"))
				symlink(t, filepath.Join(outside, "created"), filepath.Join(dir, "ctr", "0.log"))
			},
		},
		{
			name: "symlinked existing file",
			rel:  "0.log",
			setup: func(t *testing.T, dir, outside string) {
				symlink(t, filepath.Join(outside, "victim"), filepath.Join(dir, "0.log"))
			},
		},
		{
			name: "file where a directory should be",
			rel:  "file/0.log",
			setup: func(t *testing.T, dir, outside string) {
				if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
	} {
		run := forEachResolver
		if tc.setup == nil {
			// Rejected before any system call: there is no resolver to vary.
			run = func(t *testing.T, test func(t *testing.T)) { test(t) }
		}
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				// outside holds one file that must stay as it is, and
				// must gain nothing.
				base := t.TempDir()
				dir, outside := filepath.Join(base, "logs"), filepath.Join(base, "outside")
				mkdir(t, dir)
				mkdir(t, outside)
				victim := filepath.Join(outside, "victim")
				if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
					t.Fatal(err)
				}
				if tc.setup != nil {
					tc.setup(t, dir, outside)
				}
				insideBefore := listTree(t, dir)

				rel := strings.ReplaceAll(tc.rel, "/OUTSIDE", outside)
				f, err := Open(dir, rel, 64)
				if err == nil {
					f.Close()
					t.Fatalf("Open(%q) succeeded", rel)
				}
				if !errdefs.IsInvalidArgument(err) {
					t.Errorf("Open(%q) = %v, want an invalid argument error", rel, err)
				}
				if got := listTree(t, outside); !slices.Equal(got, []string{"victim"}) {
					t.Errorf("outside now holds %q", got)
				}
				if data, _ := os.ReadFile(victim); string(data) != "keep" {
					t.Errorf("victim now holds %q", data)
				}
				if got := listTree(t, dir); !slices.Equal(got, insideBefore) {
					t.Errorf("log directory changed from %q to %q", insideBefore, got)
				}
			})
		})
	}
}

// TestMkdirBeneathRefusesSymlink covers a symlink that appears after Open
// found a parent missing and before it creates the parents (os.Root's
// MkdirAll: it does not use the openat2 resolver).
func TestMkdirBeneathRefusesSymlink(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	mkdir(t, filepath.Join(dir, "ctr"))
	symlink(t, outside, filepath.Join(dir, "ctr", "link"))
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)

	err = mkdirBeneath(root, "ctr/link/sub")
	if !errors.Is(err, errEscapes) {
		t.Errorf("mkdirBeneath through a symlink = %v, want os.Root's refusal", err)
	}
	if oe := openError(dir, "ctr/link/sub/0.log", err); !errdefs.IsInvalidArgument(oe) {
		t.Errorf("openError(%v) = %v, want an invalid argument", err, oe)
	}
	if got := listTree(t, outside); len(got) != 0 {
		t.Errorf("created outside: %q", got)
	}
	if err := mkdirBeneath(root, "ctr/a/b"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ctr", "a", "b")); err != nil || !fi.IsDir() {
		t.Errorf("ctr/a/b not created: %v", err)
	}
}

func TestOpenRejectsNonPositiveMaxLineSize(t *testing.T) {
	for _, max := range []int{0, -1} {
		if _, err := Open(t.TempDir(), "0.log", max); !errdefs.IsInvalidArgument(err) {
			t.Errorf("Open with max line size %d = %v, want an invalid argument error", max, err)
		}
	}
}

// TestReopenAfterRename rotates the file the way kubelet does, renaming it
// and then asking for a reopen, while both streams keep writing.
func TestReopenAfterRename(t *testing.T) {
	forEachResolver(t, func(t *testing.T) {
		const before, after = 500, 500 // lines each stream writes around the rotation at least
		dir := t.TempDir()
		f, err := Open(dir, "ctr/0.log", 64)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()

		rotated := make(chan struct{})
		var started, wg sync.WaitGroup
		written := map[Stream]*int{Stdout: new(int), Stderr: new(int)}
		for _, s := range []Stream{Stdout, Stderr} {
			pr, pw := io.Pipe()
			started.Add(1)
			wg.Go(func() { f.Copy(s, pr) })
			wg.Go(func() {
				defer pw.Close()
				n := written[s]
				for ; *n < before; *n++ {
					fmt.Fprintf(pw, "%s %d\n", s, *n)
				}
				started.Done()
				// Keep writing while the file is rotated, then some more.
				for extra := 0; extra < after; *n++ {
					fmt.Fprintf(pw, "%s %d\n", s, *n)
					select {
					case <-rotated:
						extra++
					default:
					}
				}
			})
		}
		started.Wait()
		old := f.Path() + ".20261123-154021"
		if err := os.Rename(f.Path(), old); err != nil {
			t.Fatal(err)
		}
		if err := f.Reopen(); err != nil {
			t.Fatal(err)
		}
		close(rotated)
		wg.Wait()

		oldRecs, newRecs := readRecords(t, old), readRecords(t, f.Path())
		if len(oldRecs) == 0 || len(newRecs) == 0 {
			t.Fatalf("old file has %d records, new one %d: want both used", len(oldRecs), len(newRecs))
		}
		// The clock is read under the lock Reopen holds, so every record
		// of the old file was written before every record of the new one.
		if last, first := oldRecs[len(oldRecs)-1].Time, newRecs[0].Time; first.Before(last) {
			t.Errorf("new file starts at %v, before the old file ends at %v", first, last)
		}
		next := map[Stream]int{}
		for i, r := range append(oldRecs, newRecs...) {
			if want := fmt.Sprintf("%s %d", r.Stream, next[r.Stream]); r.Content != want || r.Partial {
				t.Fatalf("record %d (of %d old) = %+v, want full record %q", i, len(oldRecs), r, want)
			}
			next[r.Stream]++
		}
		for s, n := range written {
			if next[s] != *n {
				t.Errorf("%s: %d records in the two files, %d lines written", s, next[s], *n)
			}
		}
	})
}

func TestReopenRefusesSymlinkAndKeepsOldFile(t *testing.T) {
	forEachResolver(t, func(t *testing.T) {
		dir, outside := t.TempDir(), t.TempDir()
		f, err := Open(dir, "0.log", 64)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.Copy(Stdout, strings.NewReader("before\n"))
		old := f.Path() + ".1"
		if err := os.Rename(f.Path(), old); err != nil {
			t.Fatal(err)
		}
		symlink(t, filepath.Join(outside, "evil"), f.Path())

		if err := f.Reopen(); !errdefs.IsInvalidArgument(err) {
			t.Fatalf("Reopen onto a symlink = %v, want an invalid argument error", err)
		}
		f.Copy(Stdout, strings.NewReader("after\n"))
		checkRecords(t, readRecords(t, old), []want{{Stdout, false, "before"}, {Stdout, false, "after"}})
		if _, err := os.Lstat(filepath.Join(outside, "evil")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("symlink target: %v, want it not created", err)
		}
	})
}

func TestReopenWithoutRenameAppends(t *testing.T) {
	f := openTemp(t, 64)
	for i := range 3 {
		f.Copy(Stdout, strings.NewReader(strconv.Itoa(i)+"\n"))
		if err := f.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	checkRecords(t, readRecords(t, f.Path()), []want{{Stdout, false, "0"}, {Stdout, false, "1"}, {Stdout, false, "2"}})
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}
