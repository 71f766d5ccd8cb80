package spec

import (
	"fmt"
	"slices"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/cgroup"
)

// Resources converts CRI container resources to OCI cgroup resources.
// Zero values mean "not set". Used at creation and by
// UpdateContainerResources.
func Resources(r *runtime.LinuxContainerResources) (*specs.LinuxResources, error) {
	if err := ValidateResources(r); err != nil {
		return nil, err
	}
	out := &specs.LinuxResources{}
	if r == nil {
		return out, nil
	}
	cpu := &specs.LinuxCPU{}
	if v := r.GetCpuPeriod(); v > 0 {
		p := uint64(v)
		cpu.Period = &p
	}
	if v := r.GetCpuQuota(); v != 0 {
		cpu.Quota = &v
	}
	if v := r.GetCpuShares(); v > 0 {
		s := uint64(v)
		cpu.Shares = &s
	}
	cpu.Cpus, cpu.Mems = r.GetCpusetCpus(), r.GetCpusetMems()
	if cpu.Period != nil || cpu.Quota != nil || cpu.Shares != nil || cpu.Cpus != "" || cpu.Mems != "" {
		out.CPU = cpu
	}
	if v := r.GetMemoryLimitInBytes(); v > 0 {
		out.Memory = &specs.LinuxMemory{Limit: &v}
		// CRI's swap limit is memory+swap, like the cgroup v1 knob; unset
		// means the same as the memory limit (no swap), as in kubelet.
		swap := v
		if s := r.GetMemorySwapLimitInBytes(); s > 0 {
			swap = s
		}
		out.Memory.Swap = &swap
	}
	for _, h := range r.GetHugepageLimits() {
		if !slices.Contains(hugetlbSizes(), h.GetPageSize()) {
			continue // see hugetlbSizes
		}
		out.HugepageLimits = append(out.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	if len(r.GetUnified()) > 0 {
		out.Unified = map[string]string{}
		for k, v := range r.GetUnified() {
			out.Unified[k] = v
		}
	}
	return out, nil
}

// ValidateResources rejects values no kernel accepts, or this host's
// cannot, naming the field. CreateContainer calls it before anything is
// created; Resources calls it again.
func ValidateResources(r *runtime.LinuxContainerResources) error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("resources.%s %v: %s: %w", field, v, why, errdefs.ErrInvalidArgument)
	}
	switch {
	case r.GetCpuPeriod() < 0:
		return bad("cpu_period", r.GetCpuPeriod(), "must not be negative")
	case r.GetCpuPeriod() != 0 && (r.GetCpuPeriod() < 1000 || r.GetCpuPeriod() > 1000000):
		return bad("cpu_period", r.GetCpuPeriod(), "must be between 1000 and 1000000 µs")
	case r.GetCpuQuota() != 0 && r.GetCpuQuota() != -1 && r.GetCpuQuota() < 1000:
		return bad("cpu_quota", r.GetCpuQuota(), "must be -1 or at least 1000 µs")
	case r.GetCpuShares() < 0 || r.GetCpuShares() > 262144:
		return bad("cpu_shares", r.GetCpuShares(), "must be between 0 and 262144")
	case r.GetMemoryLimitInBytes() < 0:
		return bad("memory_limit_in_bytes", r.GetMemoryLimitInBytes(), "must not be negative")
	case r.GetMemoryLimitInBytes() != 0 && r.GetMemoryLimitInBytes() < 4096:
		return bad("memory_limit_in_bytes", r.GetMemoryLimitInBytes(), "must be at least one page")
	case r.GetMemorySwapLimitInBytes() < -1:
		return bad("memory_swap_limit_in_bytes", r.GetMemorySwapLimitInBytes(), "must be -1 or more")
	case r.GetMemorySwapLimitInBytes() > 0 && r.GetMemoryLimitInBytes() > 0 && r.GetMemorySwapLimitInBytes() < r.GetMemoryLimitInBytes():
		return bad("memory_swap_limit_in_bytes", r.GetMemorySwapLimitInBytes(), "must not be below memory_limit_in_bytes")
	case r.GetOomScoreAdj() < -1000 || r.GetOomScoreAdj() > 1000:
		return bad("oom_score_adj", r.GetOomScoreAdj(), "must be between -1000 and 1000")
	case len(r.GetUnified()) > 0 && !cgroup.Unified():
		return bad("unified", r.GetUnified(), "needs the unified cgroup v2 hierarchy, which this host does not use")
	}
	if err := validateCpuset(r.GetCpusetCpus(), onlineCPUs); err != nil {
		return bad("cpuset_cpus", quoteShort(r.GetCpusetCpus()), err.Error())
	}
	if err := validateCpuset(r.GetCpusetMems(), onlineNodes); err != nil {
		return bad("cpuset_mems", quoteShort(r.GetCpusetMems()), err.Error())
	}
	return nil
}
