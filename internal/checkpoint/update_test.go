package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestUpdateWritesThenPublishes(t *testing.T) {
	type st struct{ N int }
	failing := errors.New("disk full")
	for _, tc := range []struct {
		how     Change
		saveErr error
		want    int  // the value after the update
		saved   bool // whether save was called
	}{
		{Requested, nil, 1, true},
		{Requested, failing, 0, true}, // a failed write leaves the value
		{Happened, nil, 1, true},
		{Happened, failing, 1, true}, // it happened: the value follows
		{Deferred, nil, 1, false},
	} {
		cur := st{}
		var saved *st
		err := Update(&cur, tc.how, func(s st) error {
			if cur.N != 0 {
				t.Errorf("%v: value published before it was written", tc.how)
			}
			saved = &s
			return tc.saveErr
		}, func(s *st) bool { s.N++; return true })
		if !errors.Is(err, tc.saveErr) || (tc.saveErr == nil) != (err == nil) {
			t.Errorf("%v with save error %v: got %v", tc.how, tc.saveErr, err)
		}
		if cur.N != tc.want {
			t.Errorf("%v with save error %v: value %d, want %d", tc.how, tc.saveErr, cur.N, tc.want)
		}
		if (saved != nil) != tc.saved || (saved != nil && saved.N != 1) {
			t.Errorf("%v: saved %v, want a save: %v", tc.how, saved, tc.saved)
		}
	}
}

func TestUpdateNoChangeWritesNothing(t *testing.T) {
	cur := 5
	err := Update(&cur, Requested, func(int) error { t.Fatal("saved"); return nil }, func(n *int) bool { *n = 6; return false })
	if err != nil || cur != 5 {
		t.Fatalf("got %d, %v; want 5 unchanged", cur, err)
	}
	var saved int
	if err := Update(&cur, Requested, func(n int) error { saved = n; return nil }, nil); err != nil || saved != 5 {
		t.Fatalf("a nil fn writes the value as it is: saved %d, %v", saved, err)
	}
}

func TestFileRemovedStaysRemoved(t *testing.T) {
	f := File{Path: filepath.Join(t.TempDir(), "x.json")}
	if err := f.Write(1); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Path); !os.IsNotExist(err) {
		t.Fatalf("a write after the removal brought the file back: %v", err)
	}
	if err := f.Remove(); err != nil {
		t.Fatalf("removing a removed file: %v", err)
	}
}
