package stats

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cricket-cri/cricket/internal/cgroup"
)

// PSILine is one line of a cgroup's pressure file (Pressure Stall
// Information): how long tasks of the cgroup waited for a resource.
type PSILine struct {
	// Avg10, Avg60 and Avg300 are the share of wall time (in %, 0-100)
	// stalled over the last 10, 60 and 300 seconds.
	Avg10, Avg60, Avg300 float64
	// Total is the cumulative stall time (the kernel counts microseconds).
	Total time.Duration
}

// Pressure is a cgroup's pressure on one resource: Some is time in which
// at least one task waited, Full time in which all non-idle tasks did
// (nil where the kernel writes no "full" line).
type Pressure struct {
	Some, Full *PSILine
}

// ParsePressure parses the text of a cpu.pressure, memory.pressure or
// io.pressure file:
//
//	some avg10=0.12 avg60=0.05 avg300=0.01 total=123456
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// A "some" line is required, lines of other kinds are skipped (the kernel
// may add some), and a malformed some or full line fails the whole file:
// a reading that is partly wrong is not reported.
func ParsePressure(text string) (*Pressure, error) {
	p := &Pressure{}
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var dst **PSILine
		switch fields[0] {
		case "some":
			dst = &p.Some
		case "full":
			dst = &p.Full
		default:
			continue
		}
		if *dst != nil {
			return nil, fmt.Errorf("pressure: two %q lines", fields[0])
		}
		l, err := parsePSILine(fields[1:])
		if err != nil {
			return nil, fmt.Errorf("pressure %q line: %w", fields[0], err)
		}
		*dst = l
	}
	if p.Some == nil {
		return nil, errors.New(`pressure: no "some" line`)
	}
	return p, nil
}

// parsePSILine reads "avg10=.. avg60=.. avg300=.. total=..", all four
// required, in any order; keys it does not know are skipped.
func parsePSILine(fields []string) (*PSILine, error) {
	l := &PSILine{}
	const all = 1<<4 - 1
	seen := 0
	for _, f := range fields {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value", f)
		}
		bit, avg := 0, (*float64)(nil)
		switch key {
		case "avg10":
			bit, avg = 1, &l.Avg10
		case "avg60":
			bit, avg = 2, &l.Avg60
		case "avg300":
			bit, avg = 4, &l.Avg300
		case "total":
			bit = 8
		default:
			continue
		}
		if seen&bit != 0 {
			return nil, fmt.Errorf("%s given twice", key)
		}
		seen |= bit
		if avg != nil {
			v, err := strconv.ParseFloat(val, 64)
			if err != nil || math.IsNaN(v) || v < 0 || v > 100 {
				return nil, fmt.Errorf("%s=%q is not a share of 0-100%%", key, val)
			}
			*avg = v
			continue
		}
		us, err := strconv.ParseUint(val, 10, 64)
		if err != nil || us > math.MaxInt64/uint64(time.Microsecond) {
			return nil, fmt.Errorf("total=%q is not a count of microseconds", val)
		}
		l.Total = time.Duration(us) * time.Microsecond
	}
	if seen != all {
		return nil, errors.New("avg10, avg60, avg300 and total are required")
	}
	return l, nil
}

// readPressures reads the cpu, memory and io pressure of the cgroup at path
// (a cgroupfs path, as for ReadCgroup) from its cgroup v2 directory: on a
// hybrid host below /sys/fs/cgroup/unified, where runc and kubelet create
// every cgroup too. A resource whose file is missing or unreadable (no v2
// hierarchy, a kernel without PSI or booted with psi=0, cgroup.pressure
// off) or malformed is nil: no figure is better than a made-up one.
func readPressures(path string) (cpu, memory, io *Pressure) {
	dir := cgroup.Host().V2Dir(path)
	if dir == "" {
		return nil, nil, nil
	}
	return pressuresIn(dir)
}

// pressuresIn reads the pressure files of the cgroup v2 directory dir.
func pressuresIn(dir string) (cpu, memory, io *Pressure) {
	read := func(name string) *Pressure {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil
		}
		p, err := ParsePressure(string(b))
		if err != nil {
			return nil
		}
		return p
	}
	return read("cpu.pressure"), read("memory.pressure"), read("io.pressure")
}
