package crilog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// FuzzCopyRoundTrip: whatever a container prints, the log holds exactly
// that, line by line, however long the lines and whatever the bytes.
func FuzzCopyRoundTrip(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), 8)
	f.Add([]byte("no newline"), 3)
	f.Add([]byte("\n\n\n"), 1)
	f.Add(bytes.Repeat([]byte("x"), 100), 7)
	dir := f.TempDir()
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, out []byte, max int) {
		// Bounded sizes keep each run fast: the properties do not depend
		// on length beyond a few records.
		if max <= 0 || max > 1<<12 || len(out) > 1<<14 {
			return
		}
		name := fmt.Sprintf("c%d.log", n.Add(1))
		defer os.Remove(filepath.Join(dir, name))
		lf, err := Open(dir, name, max)
		if err != nil {
			t.Fatal(err)
		}
		lf.Copy(Stdout, bytes.NewReader(out))
		lf.Close()
		data, _ := os.ReadFile(lf.Path())
		recs, err := ParseRecords(data)
		if err != nil {
			t.Fatalf("unparseable log for %q: %v", out, err)
		}
		var got strings.Builder
		for _, r := range recs {
			if len(r.Content) > max {
				t.Fatalf("record of %d bytes exceeds the limit %d", len(r.Content), max)
			}
			got.WriteString(r.Content)
			if !r.Partial {
				got.WriteString("\n")
			}
		}
		want := string(out)
		if len(want) > 0 && !strings.HasSuffix(want, "\n") {
			want += "\n" // an unterminated last line is logged as a full line
		}
		if got.String() != want {
			t.Fatalf("round trip of %q with max %d gave %q", out, max, got.String())
		}
	})
}
