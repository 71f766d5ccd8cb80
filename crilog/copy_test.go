package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

func TestCopyConcurrentStreams(t *testing.T) {
	const lines = 2000
	f := openTemp(t, 1024)
	start := time.Now()

	var wg sync.WaitGroup
	for _, s := range []Stream{Stdout, Stderr} {
		pr, pw := io.Pipe()
		wg.Go(func() { f.Copy(s, pr) })
		wg.Go(func() {
			// Small writes of odd sizes, so lines reach Copy in pieces
			// while the other stream is being written too.
			var all bytes.Buffer
			for i := range lines {
				fmt.Fprintf(&all, "%s line %d with some words\n", s, i)
			}
			for b := all.Bytes(); len(b) > 0; {
				n := min(len(b), 7)
				pw.Write(b[:n])
				b = b[n:]
			}
			pw.Close()
		})
	}
	wg.Wait()
	end := time.Now()

	data, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z std(out|err) F std(out|err) line \d+ with some words$`)
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !format.MatchString(line) {
			t.Fatalf("line %d malformed: %q", i, line)
		}
	}

	recs := readRecords(t, f.Path())
	if len(recs) != 2*lines {
		t.Fatalf("got %d records, want %d", len(recs), 2*lines)
	}
	next := map[Stream]int{}
	for i, r := range recs {
		if want := fmt.Sprintf("%s line %d with some words", r.Stream, next[r.Stream]); r.Content != want || r.Partial {
			t.Fatalf("record %d = %+v, want full record %q", i, r, want)
		}
		next[r.Stream]++
		if r.Time.Before(start.Add(-time.Second)) || r.Time.After(end.Add(time.Second)) {
			t.Errorf("record %d time %v outside the test's run [%v, %v]", i, r.Time, start, end)
		}
		if r.Time.Location() != time.UTC {
			t.Errorf("record %d time %v is not UTC", i, r.Time)
		}
		if i > 0 && r.Time.Before(recs[i-1].Time) {
			t.Errorf("record %d time %v is before the previous record's %v", i, r.Time, recs[i-1].Time)
		}
	}
	if next[Stdout] != lines || next[Stderr] != lines {
		t.Errorf("records per stream = %v, want %d each", next, lines)
	}
	if err := f.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

func TestRecordTimesAreUTC(t *testing.T) {
	defer func(local *time.Location) { time.Local = local }(time.Local)
	time.Local = time.FixedZone("UTC+5", 5*3600)
	f := openTemp(t, 64)
	before := time.Now()
	f.Copy(Stdout, strings.NewReader("x\n"))
	data, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	ts, _, _ := strings.Cut(string(data), " ")
	got, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !strings.HasSuffix(ts, "Z") {
		t.Fatalf("timestamp %q is not RFC3339Nano UTC: %v", ts, err)
	}
	if d := got.Sub(before); d < 0 || d > time.Minute {
		t.Errorf("timestamp %v is %v after the write started at %v", got, d, before)
	}
}

// pattern returns n bytes that differ from their neighbours, so that a
// piece in the wrong place or of the wrong length shows.
func pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	return string(b)
}

func TestCopySplitsLongLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		wrap func(io.Reader) io.Reader
	}{
		{name: "small", max: 16},
		{name: "small one byte reads", max: 16, wrap: iotest.OneByteReader},
		// 3.5 × 20000 is twice the read buffer: pieces span buffer refills.
		{name: "longer than read buffer", max: 20000},
		{name: "longer than read buffer half reads", max: 20000, wrap: iotest.HalfReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openTemp(t, tc.max)
			line := pattern(tc.max*3 + tc.max/2)
			var r io.Reader = strings.NewReader(line + "\nnext\n")
			if tc.wrap != nil {
				r = tc.wrap(r)
			}
			f.Copy(Stdout, r)

			recs := readRecords(t, f.Path())
			checkRecords(t, recs, []want{
				{Stdout, true, line[:tc.max]},
				{Stdout, true, line[tc.max : 2*tc.max]},
				{Stdout, true, line[2*tc.max : 3*tc.max]},
				{Stdout, false, line[3*tc.max:]},
				{Stdout, false, "next"},
			})
			var joined strings.Builder
			for _, r := range recs[:4] {
				joined.WriteString(r.Content)
			}
			if joined.String() != line {
				t.Error("the parts do not join to the line")
			}
		})
	}
}

func TestCopyExactlyMaxLineSize(t *testing.T) {
	const max = 32
	f := openTemp(t, max)
	exact, double := pattern(max), pattern(2*max)
	f.Copy(Stderr, strings.NewReader(exact+"\n"+double+"\n"+exact))
	checkRecords(t, readRecords(t, f.Path()), []want{
		{Stderr, false, exact},
		{Stderr, true, double[:max]},
		{Stderr, false, double[max:]},
		{Stderr, false, exact}, // unterminated at EOF
	})
}

func TestCopyEmptyLines(t *testing.T) {
	f := openTemp(t, 8)
	f.Copy(Stdout, strings.NewReader("\n\nx\n\n"))
	checkRecords(t, readRecords(t, f.Path()), []want{
		{Stdout, false, ""},
		{Stdout, false, ""},
		{Stdout, false, "x"},
		{Stdout, false, ""},
	})
	data, _ := os.ReadFile(f.Path())
	if !bytes.HasSuffix(data, []byte(" stdout F \n")) {
		t.Errorf("an empty line is not written as %q: %q", "<time> stdout F \\n", data)
	}
}

func TestCopyUnterminatedAtEOF(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  []want
	}{
		{"nothing", "", nil},
		{"only newline", "\n", []want{{Stdout, false, ""}}},
		{"tail", "a b\nc d", []want{{Stdout, false, "a b"}, {Stdout, false, "c d"}}},
		{"long tail", "0123456789abcdefghijkl", []want{
			{Stdout, true, "01234567"},
			{Stdout, true, "89abcdef"},
			{Stdout, false, "ghijkl"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openTemp(t, 8)
			f.Copy(Stdout, strings.NewReader(tc.input))
			checkRecords(t, readRecords(t, f.Path()), tc.want)
		})
	}
}

func TestCopyReadErrorEndsLikeEOF(t *testing.T) {
	f := openTemp(t, 8)
	f.Copy(Stderr, io.MultiReader(strings.NewReader("one\ntwo"), iotest.ErrReader(errors.New("pipe broke"))))
	checkRecords(t, readRecords(t, f.Path()), []want{{Stderr, false, "one"}, {Stderr, false, "two"}})
	if err := f.Err(); err != nil {
		t.Errorf("a read error is not a write error, Err() = %v", err)
	}
}

func TestCopyKeepsDrainingAfterWriteError(t *testing.T) {
	f := openTemp(t, 16)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	f.file.Close()
	f.file = full // every write fails with ENOSPC, like a full disk

	in := strings.NewReader(strings.Repeat("a line longer than sixteen bytes\n", 10000))
	done := make(chan struct{})
	go func() {
		f.Copy(Stdout, in)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Copy did not return after write errors")
	}
	if in.Len() != 0 {
		t.Errorf("Copy stopped with %d bytes unread", in.Len())
	}
	if err := f.Err(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Err() = %v, want ENOSPC", err)
	}
}

func TestCloseDropsLaterRecords(t *testing.T) {
	f := openTemp(t, 16)
	f.Copy(Stdout, strings.NewReader("before\n"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f.Copy(Stdout, strings.NewReader("after\n"))
	checkRecords(t, readRecords(t, f.Path()), []want{{Stdout, false, "before"}})
	if err := f.Err(); err != nil {
		t.Errorf("Err() = %v after writing to a closed file, want nil", err)
	}
	if err := f.Reopen(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Reopen after Close = %v, want os.ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func BenchmarkCopy(b *testing.B) {
	f, err := Open(b.TempDir(), "0.log", 16<<10)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	input := []byte(strings.Repeat(pattern(100)+"\n", 1000))
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		f.Copy(Stdout, bytes.NewReader(input))
	}
}
