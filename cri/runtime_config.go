package cri

import (
	"context"
	"net/netip"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
)

// RuntimeConfig reports the cgroup driver, so kubelet can match it.
func (s *Server) RuntimeConfig(ctx context.Context, _ *runtime.RuntimeConfigRequest) (*runtime.RuntimeConfigResponse, error) {
	driver := runtime.CgroupDriver_CGROUPFS
	if s.Config.Get().CgroupDriver == config.CgroupDriverSystemd {
		driver = runtime.CgroupDriver_SYSTEMD
	}
	return &runtime.RuntimeConfigResponse{Linux: &runtime.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}

// UpdateRuntimeConfig records the node's pod CIDR for the network layer.
func (s *Server) UpdateRuntimeConfig(ctx context.Context, r *runtime.UpdateRuntimeConfigRequest) (*runtime.UpdateRuntimeConfigResponse, error) {
	cidr := r.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr == "" {
		return &runtime.UpdateRuntimeConfigResponse{}, nil
	}
	// kubelet may send a comma-separated dual-stack pair.
	for _, c := range splitComma(cidr) {
		if _, err := netip.ParsePrefix(c); err != nil {
			return nil, invalid("runtime_config.network_config.pod_cidr %q: %v", cidr, err)
		}
	}
	s.Network.SetPodCIDR(cidr)
	return &runtime.UpdateRuntimeConfigResponse{}, nil
}
