package crilog

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// want is the part of a Record that does not depend on the clock.
type want struct {
	stream  Stream
	partial bool
	content string
}

func openTemp(t *testing.T, maxLineSize int) *File {
	t.Helper()
	f, err := Open(t.TempDir(), "ctr/0.log", maxLineSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ParseRecords(data)
	if err != nil {
		t.Fatalf("%s: %v\n%s", path, err, data)
	}
	return recs
}

func checkRecords(t *testing.T, got []Record, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d records, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := want{got[i].Stream, got[i].Partial, got[i].Content}
		if g != w {
			t.Errorf("record %d = %s, want %s", i, describe(g), describe(w))
		}
	}
}

func describe(w want) string {
	tag := "F"
	if w.partial {
		tag = "P"
	}
	c := w.content
	if len(c) > 40 {
		c = c[:20] + "..." + c[len(c)-20:]
	}
	return fmt.Sprintf("%s %s (%d bytes) %q", w.stream, tag, len(w.content), c)
}

// forEachResolver runs test once with openat2 and once with the openat walk
// that stands in for it on kernels without openat2.
func forEachResolver(t *testing.T, test func(t *testing.T)) {
	t.Run("openat2", test)
	t.Run("fallback", func(t *testing.T) {
		calls := 0
		orig := openat2
		openat2 = func(int, string, *unix.OpenHow) (int, error) {
			calls++
			return -1, unix.ENOSYS
		}
		t.Cleanup(func() { openat2 = orig })
		test(t)
		if calls == 0 {
			t.Error("the openat2 hook was never called; the fallback was not exercised")
		}
	})
}

// listTree returns every path below dir, for checking that nothing was
// created where it must not be.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}
