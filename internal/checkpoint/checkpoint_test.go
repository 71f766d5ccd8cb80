package checkpoint

import (
	"os"
	"path/filepath"
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
