package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdatePodSandboxResources records a pod's new overhead and total
// resources, after handing them to NRI plugins when NRI is on; the pod
// cgroup is kubelet's, and cricket leaves it alone (see
// sandbox.Manager.UpdateResources).
func (s *Server) UpdatePodSandboxResources(ctx context.Context, r *runtime.UpdatePodSandboxResourcesRequest) (*runtime.UpdatePodSandboxResourcesResponse, error) {
	if err := checkID("pod_sandbox_id", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if err := s.Sandboxes.UpdateResources(ctx, r.GetPodSandboxId(), r.GetOverhead(), r.GetResources()); err != nil {
		return nil, err
	}
	return &runtime.UpdatePodSandboxResourcesResponse{}, nil
}
