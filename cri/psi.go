package cri

import (
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/stats"
)

// toPsi converts a cgroup's pressure on one resource (KEP-4205). Total is
// in nanoseconds, as the CRI documents and kubelet passes on to the
// Summary API. A host without pressure figures gets nil, never zeros.
func toPsi(p *stats.Pressure) *runtime.PsiStats {
	if p == nil {
		return nil
	}
	return &runtime.PsiStats{Some: toPsiData(p.Some), Full: toPsiData(p.Full)}
}

func toPsiData(l *stats.PSILine) *runtime.PsiData {
	if l == nil {
		return nil
	}
	return &runtime.PsiData{Total: uint64(l.Total.Nanoseconds()), Avg10: l.Avg10, Avg60: l.Avg60, Avg300: l.Avg300}
}

// addPsi puts a sample's pressure figures into the CPU and memory usage and
// an IoUsage (which carries nothing else, so it exists only with them).
func addPsi(s *stats.Sample, ts int64, cpu *runtime.CpuUsage, mem *runtime.MemoryUsage) *runtime.IoUsage {
	cpu.Psi = toPsi(s.CPUPressure)
	mem.Psi = toPsi(s.MemoryPressure)
	if s.IOPressure == nil {
		return nil
	}
	return &runtime.IoUsage{Timestamp: ts, Psi: toPsi(s.IOPressure)}
}
