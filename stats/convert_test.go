package stats

import (
	"slices"
	"testing"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
)

func TestFromV1(t *testing.T) {
	at := time.Unix(1000, 0)
	s := fromV1(at, &v1.Metrics{
		CPU: &v1.CPUStat{
			Usage:      &v1.CPUUsage{Total: 3e9, User: 2e9, Kernel: 1e9},
			Throttling: &v1.Throttle{Periods: 10, ThrottledPeriods: 4, ThrottledTime: 5e8},
		},
		Memory: &v1.MemoryStat{
			Usage:             &v1.MemoryEntry{Usage: 100, Max: 150, Limit: 1000, Failcnt: 2},
			Swap:              &v1.MemoryEntry{Usage: 130}, // memory + swap
			Kernel:            &v1.MemoryEntry{Usage: 7},
			TotalRSS:          60,
			TotalCache:        30,
			TotalMappedFile:   5,
			TotalInactiveFile: 20,
			TotalPgFault:      50,
			TotalPgMajFault:   3,
		},
		Pids:             &v1.PidsStat{Current: 4},
		MemoryOomControl: &v1.MemoryOomControl{OomKill: 1},
		Blkio: &v1.BlkIOStat{
			IoServiceBytesRecursive: []*v1.BlkIOEntry{
				{Op: "Read", Major: 8, Minor: 0, Value: 4096},
				{Op: "Write", Major: 8, Minor: 0, Value: 8192},
				{Op: "Total", Major: 8, Minor: 0, Value: 12288},
				{Op: "Write", Major: 253, Minor: 1, Value: 512},
			},
			IoServicedRecursive: []*v1.BlkIOEntry{
				{Op: "Read", Major: 8, Minor: 0, Value: 1},
				{Op: "Write", Major: 8, Minor: 0, Value: 2},
			},
		},
	})
	if !s.Time.Equal(at) || s.CPUUsageNanos != 3e9 || s.CPUUserNanos != 2e9 || s.CPUSystemNanos != 1e9 ||
		s.CFSPeriods != 10 || s.CFSThrottled != 4 || s.CFSThrottledNs != 5e8 {
		t.Errorf("CPU: %+v", s)
	}
	if s.MemoryUsage != 100 || s.MemoryMaxUsage != 150 || s.MemoryLimit != 1000 || s.MemoryFailcnt != 2 ||
		s.MemoryRSS != 60 || s.MemoryCache != 30 || s.MemoryMapped != 5 || s.MemoryKernel != 7 ||
		s.InactiveFile != 20 || s.PageFaults != 50 || s.MajorPageFaults != 3 || s.WorkingSet() != 80 {
		t.Errorf("memory: %+v", s)
	}
	if s.MemorySwap != 30 {
		t.Errorf("swap %d, want memory+swap minus memory (30)", s.MemorySwap)
	}
	if s.PIDs != 4 || s.OOMEvents != 1 {
		t.Errorf("pids %d, OOM events %d", s.PIDs, s.OOMEvents)
	}
	slices.SortFunc(s.IO, func(a, b DeviceIO) int { return int(a.Major) - int(b.Major) })
	want := []DeviceIO{{Major: 8, ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2}, {Major: 253, Minor: 1, WriteBytes: 512}}
	if !slices.Equal(s.IO, want) {
		t.Errorf("IO %+v, want one entry per device, %+v", s.IO, want)
	}

	// Swap accounting off: memory+swap reads less than memory.
	if s := fromV1(at, &v1.Metrics{Memory: &v1.MemoryStat{Usage: &v1.MemoryEntry{Usage: 100}, Swap: &v1.MemoryEntry{Usage: 0}}}); s.MemorySwap != 0 {
		t.Errorf("swap %d without swap accounting", s.MemorySwap)
	}
	// A cgroup with no controllers' figures reads as zeroes.
	if s := fromV1(at, &v1.Metrics{}); s.CPUUsageNanos != 0 || s.MemoryUsage != 0 || len(s.IO) != 0 {
		t.Errorf("empty metrics: %+v", s)
	}
}

func TestFromV2(t *testing.T) {
	at := time.Unix(1000, 0)
	s := fromV2(at, &v2.Metrics{
		CPU:          &v2.CPUStat{UsageUsec: 3000, UserUsec: 2000, SystemUsec: 1000, NrPeriods: 10, NrThrottled: 4, ThrottledUsec: 500},
		Memory:       &v2.MemoryStat{Usage: 100, MaxUsage: 150, UsageLimit: 1000, Anon: 60, File: 30, FileMapped: 5, SwapUsage: 9, KernelStack: 1, Slab: 2, Sock: 3, InactiveFile: 120, Pgfault: 50, Pgmajfault: 3},
		Pids:         &v2.PidsStat{Current: 4},
		MemoryEvents: &v2.MemoryEvents{OomKill: 2},
		Io:           &v2.IOStat{Usage: []*v2.IOEntry{{Major: 8, Minor: 0, Rbytes: 4096, Wbytes: 8192, Rios: 1, Wios: 2}}},
	})
	if s.CPUUsageNanos != 3e6 || s.CPUUserNanos != 2e6 || s.CPUSystemNanos != 1e6 || s.CFSThrottledNs != 5e5 || s.CFSPeriods != 10 || s.CFSThrottled != 4 {
		t.Errorf("CPU in ns: %+v", s)
	}
	if s.MemoryUsage != 100 || s.MemoryMaxUsage != 150 || s.MemoryLimit != 1000 || s.MemoryRSS != 60 || s.MemoryCache != 30 ||
		s.MemoryMapped != 5 || s.MemorySwap != 9 || s.MemoryKernel != 6 || s.PageFaults != 50 || s.MajorPageFaults != 3 {
		t.Errorf("memory: %+v", s)
	}
	if s.WorkingSet() != 0 {
		t.Errorf("working set %d with more inactive file than usage, want 0", s.WorkingSet())
	}
	if s.PIDs != 4 || s.OOMEvents != 2 || !slices.Equal(s.IO, []DeviceIO{{Major: 8, ReadBytes: 4096, WriteBytes: 8192, Reads: 1, Writes: 2}}) {
		t.Errorf("pids %d, OOM %d, IO %+v", s.PIDs, s.OOMEvents, s.IO)
	}
}

func TestNanoCores(t *testing.T) {
	at := time.Unix(1000, 0)
	sample := func(d time.Duration, cpu uint64) *Sample { return &Sample{Time: at.Add(d), CPUUsageNanos: cpu} }
	for _, tc := range []struct {
		name      string
		prev, cur *Sample
		want      int64 // -1: nil
	}{
		{"one core", sample(0, 1e9), sample(time.Second, 2e9), 1e9},
		{"half a core over two seconds", sample(0, 0), sample(2*time.Second, 1e9), 5e8},
		{"idle", sample(0, 5), sample(time.Second, 5), 0},
		{"one sample", nil, sample(0, 1), -1},
		{"no sample", nil, nil, -1},
		{"same time", sample(0, 1), sample(0, 2), -1},
		{"out of order", sample(time.Second, 1), sample(0, 2), -1},
		{"counter reset (a new cgroup)", sample(0, 2e9), sample(time.Second, 1e9), -1},
	} {
		got := NanoCores(tc.prev, tc.cur)
		if (got == nil) != (tc.want < 0) || (got != nil && int64(*got) != tc.want) {
			t.Errorf("%s: %v, want %d", tc.name, got, tc.want)
		}
	}
}

func TestIgnoredInterfaces(t *testing.T) {
	for name, ignored := range map[string]bool{
		"lo": true, "veth1234": true, "docker0": true, "nerdctl0": true,
		"eth0": false, "net1": false, "cricket0": false,
	} {
		if ignoredInterface(name) != ignored {
			t.Errorf("%s: ignored = %v, want %v", name, !ignored, ignored)
		}
	}
}
