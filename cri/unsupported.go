package cri

import (
	"context"
	"os/exec"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CheckpointContainer is not supported: it says why, rather than the
// generic Unimplemented.
func (s *Server) CheckpointContainer(ctx context.Context, r *runtime.CheckpointContainerRequest) (*runtime.CheckpointContainerResponse, error) {
	if _, err := exec.LookPath("criu"); err != nil {
		return nil, status.Error(codes.Unimplemented, "CheckpointContainer needs CRIU, which is not installed on this node")
	}
	return nil, status.Error(codes.Unimplemented, "CheckpointContainer is not supported by cricket yet")
}
