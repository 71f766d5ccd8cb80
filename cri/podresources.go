package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdatePodSandboxResources applies a pod's new total resources to its
// cgroup parent (kubelet normally manages that cgroup itself; this keeps
// it in step for runtimes and hooks that read it).
func (s *Server) UpdatePodSandboxResources(ctx context.Context, r *runtime.UpdatePodSandboxResourcesRequest) (*runtime.UpdatePodSandboxResourcesResponse, error) {
	if err := checkID("pod_sandbox_id", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if err := s.Sandboxes.UpdateResources(ctx, r.GetPodSandboxId(), r.GetResources()); err != nil {
		return nil, err
	}
	return &runtime.UpdatePodSandboxResourcesResponse{}, nil
}
