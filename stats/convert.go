package stats

import (
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
)

func fromV1(t time.Time, m *v1.Metrics) *Sample {
	s := &Sample{Time: t}
	if c := m.GetCPU(); c != nil {
		s.CPUUsageNanos = c.GetUsage().GetTotal()
		s.CPUUserNanos = c.GetUsage().GetUser()
		s.CPUSystemNanos = c.GetUsage().GetKernel()
		s.CFSPeriods = c.GetThrottling().GetPeriods()
		s.CFSThrottled = c.GetThrottling().GetThrottledPeriods()
		s.CFSThrottledNs = c.GetThrottling().GetThrottledTime()
	}
	if mem := m.GetMemory(); mem != nil {
		s.MemoryUsage = mem.GetUsage().GetUsage()
		s.MemoryMaxUsage = mem.GetUsage().GetMax()
		s.MemoryLimit = mem.GetUsage().GetLimit()
		s.MemoryFailcnt = mem.GetUsage().GetFailcnt()
		s.MemoryRSS = mem.GetTotalRSS()
		s.MemoryCache = mem.GetTotalCache()
		s.MemoryMapped = mem.GetTotalMappedFile()
		s.MemoryKernel = mem.GetKernel().GetUsage()
		s.InactiveFile = mem.GetTotalInactiveFile()
		s.PageFaults = mem.GetTotalPgFault()
		s.MajorPageFaults = mem.GetTotalPgMajFault()
		if sw := mem.GetSwap().GetUsage(); sw > s.MemoryUsage {
			// v1 reports memory+swap.
			s.MemorySwap = sw - s.MemoryUsage
		}
	}
	s.PIDs = m.GetPids().GetCurrent()
	s.OOMEvents = m.GetMemoryOomControl().GetOomKill()
	byDev := map[[2]uint64]*DeviceIO{}
	dev := func(e *v1.BlkIOEntry) *DeviceIO {
		k := [2]uint64{e.Major, e.Minor}
		if byDev[k] == nil {
			byDev[k] = &DeviceIO{Major: e.Major, Minor: e.Minor}
		}
		return byDev[k]
	}
	for _, e := range m.GetBlkio().GetIoServiceBytesRecursive() {
		switch e.Op {
		case "Read":
			dev(e).ReadBytes = e.Value
		case "Write":
			dev(e).WriteBytes = e.Value
		}
	}
	for _, e := range m.GetBlkio().GetIoServicedRecursive() {
		switch e.Op {
		case "Read":
			dev(e).Reads = e.Value
		case "Write":
			dev(e).Writes = e.Value
		}
	}
	for _, d := range byDev {
		s.IO = append(s.IO, *d)
	}
	return s
}

func fromV2(t time.Time, m *v2.Metrics) *Sample {
	s := &Sample{Time: t}
	if c := m.GetCPU(); c != nil {
		s.CPUUsageNanos = c.GetUsageUsec() * 1000
		s.CPUUserNanos = c.GetUserUsec() * 1000
		s.CPUSystemNanos = c.GetSystemUsec() * 1000
		s.CFSPeriods = c.GetNrPeriods()
		s.CFSThrottled = c.GetNrThrottled()
		s.CFSThrottledNs = c.GetThrottledUsec() * 1000
	}
	if mem := m.GetMemory(); mem != nil {
		s.MemoryUsage = mem.GetUsage()
		s.MemoryMaxUsage = mem.GetMaxUsage()
		s.MemoryLimit = mem.GetUsageLimit()
		s.MemoryRSS = mem.GetAnon()
		s.MemoryCache = mem.GetFile()
		s.MemoryMapped = mem.GetFileMapped()
		s.MemorySwap = mem.GetSwapUsage()
		s.MemoryKernel = mem.GetKernelStack() + mem.GetSlab() + mem.GetSock()
		s.InactiveFile = mem.GetInactiveFile()
		s.PageFaults = mem.GetPgfault()
		s.MajorPageFaults = mem.GetPgmajfault()
	}
	s.PIDs = m.GetPids().GetCurrent()
	s.OOMEvents = m.GetMemoryEvents().GetOomKill()
	for _, e := range m.GetIo().GetUsage() {
		s.IO = append(s.IO, DeviceIO{Major: e.Major, Minor: e.Minor, ReadBytes: e.Rbytes, WriteBytes: e.Wbytes, Reads: e.Rios, Writes: e.Wios})
	}
	return s
}
