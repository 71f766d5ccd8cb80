// Package stats measures containers and pods: cgroup readings (CPU,
// memory, processes) taken by a background collector at a fixed period,
// so that rates such as CPU cores in use come from two samples, and the
// CRI stats and metrics RPCs answer from memory.
package stats

import (
	"fmt"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"

	"github.com/cricket-cri/cricket/internal/cgroup"
)

// Sample is one reading of a cgroup. Counters are cumulative.
type Sample struct {
	Time time.Time

	CPUUsageNanos   uint64
	CPUUserNanos    uint64
	CPUSystemNanos  uint64
	CFSPeriods      uint64
	CFSThrottled    uint64
	CFSThrottledNs  uint64
	MemoryUsage     uint64
	MemoryMaxUsage  uint64
	MemoryLimit     uint64
	MemoryRSS       uint64
	MemoryCache     uint64
	MemoryMapped    uint64
	MemorySwap      uint64
	MemoryKernel    uint64
	MemoryFailcnt   uint64
	InactiveFile    uint64
	PageFaults      uint64
	MajorPageFaults uint64
	PIDs            uint64
	OOMEvents       uint64
	// Block I/O per device (only where blkio accounting is on).
	IO []DeviceIO
	// Pressure stall information from the cgroup's v2 directory, nil
	// where the host has none (see readPressures).
	CPUPressure, MemoryPressure, IOPressure *Pressure
}

// DeviceIO is a cgroup's block I/O on one device.
type DeviceIO struct {
	Major, Minor          uint64
	ReadBytes, WriteBytes uint64
	Reads, Writes         uint64
}

// WorkingSet is memory usage minus inactive file cache: what kubelet uses
// for eviction decisions.
func (s *Sample) WorkingSet() uint64 {
	if s.InactiveFile > s.MemoryUsage {
		return 0
	}
	return s.MemoryUsage - s.InactiveFile
}

// ErrGone is returned for a cgroup that no longer exists.
var ErrGone = cgroup.ErrGone

// ReadCgroup samples the cgroup at path (a cgroupfs path such as
// "/kubepods/pod1/<id>"), on cgroup v1 (also in hybrid mode) or v2.
func ReadCgroup(path string) (*Sample, error) {
	s, err := readController(path)
	if err != nil {
		return nil, err
	}
	s.CPUPressure, s.MemoryPressure, s.IOPressure = readPressures(path)
	return s, nil
}

// readController reads the figures of the cgroup's controllers (on v1,
// only those it reports, so that a host lacking another does not matter).
func readController(path string) (*Sample, error) {
	now := time.Now()
	cg, err := cgroup.Load(path, cgroup1.Cpuacct, cgroup1.Cpu, cgroup1.Memory, cgroup1.Pids, cgroup1.Blkio)
	if err != nil {
		return nil, err
	}
	m, err := cg.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat cgroup %s: %w", path, err)
	}
	if m.V2 != nil {
		return fromV2(now, m.V2), nil
	}
	return fromV1(now, m.V1), nil
}
