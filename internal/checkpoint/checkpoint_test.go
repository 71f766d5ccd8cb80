package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReadReplace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b.json")
	type rec struct{ N int }
	for i := range 4 {
		write := Write
		if i%2 == 1 {
			write = WriteUnsynced
		}
		if err := write(p, rec{i}); err != nil {
			t.Fatal(err)
		}
		var got rec
		if err := Read(p, &got); err != nil || got.N != i {
			t.Fatalf("read %v %v, want %d", got, err, i)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if err := Read(filepath.Join(t.TempDir(), "none"), &struct{}{}); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestReadDirSkipsAndRemovesWhatItCannotUse(t *testing.T) {
	if recs, err := ReadDir[map[string]int](filepath.Join(t.TempDir(), "missing"), nil); err != nil || recs != nil {
		t.Fatalf("missing dir: %v, %v", recs, err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"b.json":       `{"n": 2}`,
		"a.json":       `{"n": 1}`,
		"torn.json":    `{"n": `,
		".c.json.tmp1": `{"n": 3}`, // a write a crash interrupted
		"notes.txt":    `not a checkpoint`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var bad []string
	recs, err := ReadDir[map[string]int](dir, func(path string, err error) { bad = append(bad, filepath.Base(path)) })
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || filepath.Base(recs[0].Path) != "a.json" || (*recs[0].Value)["n"] != 1 || (*recs[1].Value)["n"] != 2 {
		t.Fatalf("ReadDir = %+v", recs)
	}
	if len(bad) != 1 || bad[0] != "torn.json" {
		t.Errorf("reported bad: %v", bad)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "a.json b.json notes.txt" {
		t.Errorf("left in dir: %v (the torn checkpoint and the temporary should be gone)", names)
	}
}

// A write makes the directories it needs, the first time and after they
// were removed.
func TestWriteMakesItsDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "x.json")
	for i := range 2 {
		if err := Write(path, map[string]int{"n": i}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		var got map[string]int
		if err := Read(path, &got); err != nil || got["n"] != i {
			t.Fatalf("read %d: %v, %v", i, got, err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("directory: %v, %v", fi, err)
		}
		os.RemoveAll(filepath.Dir(dir))
	}
}
