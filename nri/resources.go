package nri

import (
	"maps"
	"slices"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// FromCRI describes CRI resources as NRI does (nil for nil). Unset CRI
// fields (zero) stay unset.
func FromCRI(r *runtime.LinuxContainerResources) *api.LinuxResources {
	if r == nil {
		return nil
	}
	out := &api.LinuxResources{
		Cpu:    &api.LinuxCPU{Cpus: r.GetCpusetCpus(), Mems: r.GetCpusetMems()},
		Memory: &api.LinuxMemory{},
	}
	if v := r.GetCpuShares(); v > 0 {
		out.Cpu.Shares = api.UInt64(v)
	}
	if v := r.GetCpuQuota(); v != 0 {
		out.Cpu.Quota = api.Int64(v)
	}
	if v := r.GetCpuPeriod(); v > 0 {
		out.Cpu.Period = api.UInt64(v)
	}
	if v := r.GetMemoryLimitInBytes(); v > 0 {
		out.Memory.Limit = api.Int64(v)
	}
	if v := r.GetMemorySwapLimitInBytes(); v > 0 {
		out.Memory.Swap = api.Int64(v)
	}
	for _, h := range r.GetHugepageLimits() {
		out.HugepageLimits = append(out.HugepageLimits, &api.HugepageLimit{PageSize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	out.Unified = maps.Clone(r.GetUnified())
	return out
}

// OverCRI returns base (not changed) with what r sets over it: a plugin's
// update names only what it changes. What CRI resources cannot say (pids,
// devices, realtime CPU, memory knobs beyond limit and swap) is left out.
func OverCRI(base *runtime.LinuxContainerResources, r *api.LinuxResources) *runtime.LinuxContainerResources {
	out := &runtime.LinuxContainerResources{}
	if base != nil {
		out = proto.Clone(base).(*runtime.LinuxContainerResources)
	}
	if r == nil {
		return out
	}
	if c := r.GetCpu(); c != nil {
		if v := c.GetShares(); v != nil {
			out.CpuShares = int64(v.GetValue())
		}
		if v := c.GetQuota(); v != nil {
			out.CpuQuota = v.GetValue()
		}
		if v := c.GetPeriod(); v != nil {
			out.CpuPeriod = int64(v.GetValue())
		}
		if c.GetCpus() != "" {
			out.CpusetCpus = c.GetCpus()
		}
		if c.GetMems() != "" {
			out.CpusetMems = c.GetMems()
		}
	}
	if m := r.GetMemory(); m != nil {
		if v := m.GetLimit(); v != nil {
			out.MemoryLimitInBytes = v.GetValue()
		}
		if v := m.GetSwap(); v != nil {
			out.MemorySwapLimitInBytes = v.GetValue()
		}
	}
	for _, h := range r.GetHugepageLimits() {
		i := slices.IndexFunc(out.HugepageLimits, func(o *runtime.HugepageLimit) bool { return o.GetPageSize() == h.GetPageSize() })
		if i < 0 {
			out.HugepageLimits = append(out.HugepageLimits, &runtime.HugepageLimit{PageSize: h.GetPageSize()})
			i = len(out.HugepageLimits) - 1
		}
		out.HugepageLimits[i].Limit = h.GetLimit()
	}
	if len(r.GetUnified()) > 0 {
		if out.Unified == nil {
			out.Unified = map[string]string{}
		}
		maps.Copy(out.Unified, r.GetUnified())
	}
	return out
}
