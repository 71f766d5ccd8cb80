package nri

import (
	"testing"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestResourcesRoundTrip(t *testing.T) {
	cri := &runtime.LinuxContainerResources{
		CpuShares: 512, CpuQuota: 50000, CpuPeriod: 100000, CpusetCpus: "0-1", CpusetMems: "0",
		MemoryLimitInBytes: 64 << 20, MemorySwapLimitInBytes: 128 << 20,
		HugepageLimits: []*runtime.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}},
		Unified:        map[string]string{"memory.high": "1000000"},
	}
	if got := OverCRI(nil, FromCRI(cri)); !proto.Equal(got, cri) {
		t.Errorf("CRI -> NRI -> CRI = %v, want %v", got, cri)
	}
}

func TestOverCRIChangesOnlyWhatIsSet(t *testing.T) {
	base := &runtime.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 << 20, OomScoreAdj: 100,
		HugepageLimits: []*runtime.HugepageLimit{{PageSize: "2MB", Limit: 1}}}
	got := OverCRI(base, &api.LinuxResources{
		Cpu:            &api.LinuxCPU{Shares: api.UInt64(300)},
		HugepageLimits: []*api.HugepageLimit{{PageSize: "2MB", Limit: 2}, {PageSize: "1GB", Limit: 3}},
	})
	want := &runtime.LinuxContainerResources{CpuShares: 300, MemoryLimitInBytes: 64 << 20, OomScoreAdj: 100,
		HugepageLimits: []*runtime.HugepageLimit{{PageSize: "2MB", Limit: 2}, {PageSize: "1GB", Limit: 3}}}
	if !proto.Equal(got, want) {
		t.Errorf("OverCRI = %v, want %v", got, want)
	}
	if base.CpuShares != 512 || base.HugepageLimits[0].Limit != 1 {
		t.Errorf("OverCRI changed its base: %v", base)
	}
}
