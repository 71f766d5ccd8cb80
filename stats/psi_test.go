package stats

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParsePressure(t *testing.T) {
	line := func(a10, a60, a300 float64, total time.Duration) *PSILine {
		return &PSILine{Avg10: a10, Avg60: a60, Avg300: a300, Total: total}
	}
	tests := []struct {
		name string
		in   string
		want *Pressure // nil: an error
	}{
		{"some and full", "some avg10=1.50 avg60=0.25 avg300=0.00 total=2500000\nfull avg10=0.10 avg60=0.00 avg300=100.00 total=7\n",
			&Pressure{Some: line(1.5, 0.25, 0, 2500*time.Millisecond), Full: line(0.1, 0, 100, 7*time.Microsecond)}},
		{"cpu full line of zeros", "some avg10=0.00 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
			&Pressure{Some: line(0, 0, 0, 42*time.Microsecond), Full: line(0, 0, 0, 0)}},
		{"no full line (cpu before 5.13)", "some avg10=3.00 avg60=2.00 avg300=1.00 total=9\n",
			&Pressure{Some: line(3, 2, 1, 9*time.Microsecond)}},
		{"no final newline, extra blanks", "  some  avg10=0 avg60=0 avg300=0 total=1", &Pressure{Some: line(0, 0, 0, time.Microsecond)}},
		{"keys in another order", "some total=5 avg300=0.30 avg60=0.60 avg10=0.90", &Pressure{Some: line(0.9, 0.6, 0.3, 5*time.Microsecond)}},
		{"unknown keys and kinds skipped", "some avg10=0 avg60=0 avg300=0 total=3 avg1=9\nnew avg10=x\n", &Pressure{Some: line(0, 0, 0, 3*time.Microsecond)}},

		{"empty", "", nil},
		{"only full", "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", nil},
		{"total missing", "some avg10=0.00 avg60=0.00 avg300=0.00\n", nil},
		{"avg60 missing", "some avg10=0.00 avg300=0.00 total=1\n", nil},
		{"not key=value", "some avg10 avg60=0 avg300=0 total=1\n", nil},
		{"negative total", "some avg10=0 avg60=0 avg300=0 total=-1\n", nil},
		{"fractional total", "some avg10=0 avg60=0 avg300=0 total=1.5\n", nil},
		{"total past a Duration", "some avg10=0 avg60=0 avg300=0 total=18446744073709551615\n", nil},
		{"avg above 100", "some avg10=100.01 avg60=0 avg300=0 total=1\n", nil},
		{"avg negative", "some avg10=-0.5 avg60=0 avg300=0 total=1\n", nil},
		{"avg NaN", "some avg10=NaN avg60=0 avg300=0 total=1\n", nil},
		{"avg Inf", "some avg10=+Inf avg60=0 avg300=0 total=1\n", nil},
		{"avg empty", "some avg10= avg60=0 avg300=0 total=1\n", nil},
		{"key twice", "some avg10=0 avg10=0 avg60=0 avg300=0 total=1\n", nil},
		{"some twice", "some avg10=0 avg60=0 avg300=0 total=1\nsome avg10=0 avg60=0 avg300=0 total=2\n", nil},
		{"malformed full fails the file", "some avg10=0 avg60=0 avg300=0 total=1\nfull avg10=0 avg60=0 total=0\n", nil},
		{"garbage", "\x00\x01 some=1\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePressure(tc.in)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("ParsePressure(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePressure(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParsePressure(%q) = some %+v full %+v, want some %+v full %+v", tc.in, got.Some, got.Full, tc.want.Some, tc.want.Full)
			}
		})
	}
}

func TestPressuresIn(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
	write("memory.pressure", "some avg10=0.00 avg60=0.00\n") // malformed
	// io.pressure missing, as on a host without PSI.
	cpu, mem, io := pressuresIn(dir)
	if cpu == nil || cpu.Some.Total != time.Millisecond || cpu.Full == nil {
		t.Errorf("cpu pressure %+v", cpu)
	}
	if mem != nil || io != nil {
		t.Errorf("memory %+v, io %+v: want nil for a malformed and a missing file", mem, io)
	}
	if c, m, i := pressuresIn(filepath.Join(dir, "gone")); c != nil || m != nil || i != nil {
		t.Errorf("a missing cgroup has pressure %v %v %v", c, m, i)
	}
}
