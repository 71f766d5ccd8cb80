package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/version"
)

const (
	// runtimeName is what Version reports as the runtime's name.
	runtimeName = "cricket"
	// kubeAPIVersion is the version of the kubelet runtime API, as the
	// other CRI runtimes report it.
	kubeAPIVersion = "0.1.0"
)

// Version returns the runtime's name and versions.
func (s *Server) Version(ctx context.Context, _ *runtime.VersionRequest) (*runtime.VersionResponse, error) {
	return &runtime.VersionResponse{
		Version:           kubeAPIVersion,
		RuntimeName:       runtimeName,
		RuntimeVersion:    version.String(),
		RuntimeApiVersion: "v1",
	}, nil
}
