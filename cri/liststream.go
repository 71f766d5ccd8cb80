package cri

import (
	"google.golang.org/grpc"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// streamChunk is how many items one message of a list stream carries:
// enough to amortize the message, small enough to stay far below the
// 16 MiB message limit for any item kind.
const streamChunk = 100

// sendChunks sends items in chunks through send; the caller's return
// closes the stream with EOF.
func sendChunks[T any](items []T, send func([]T) error) error {
	for i := 0; i < len(items); i += streamChunk {
		if err := send(items[i:min(i+streamChunk, len(items))]); err != nil {
			return err
		}
	}
	return nil
}

// StreamPodSandboxes is ListPodSandbox as a stream (CRIListStreaming).
func (s *Server) StreamPodSandboxes(r *runtime.StreamPodSandboxesRequest, stream grpc.ServerStreamingServer[runtime.StreamPodSandboxesResponse]) error {
	resp, err := s.ListPodSandbox(stream.Context(), &runtime.ListPodSandboxRequest{Filter: r.GetFilter()})
	if err != nil {
		return err
	}
	return sendChunks(resp.Items, func(c []*runtime.PodSandbox) error {
		return stream.Send(&runtime.StreamPodSandboxesResponse{PodSandboxes: c})
	})
}

// StreamContainers is ListContainers as a stream.
func (s *Server) StreamContainers(r *runtime.StreamContainersRequest, stream grpc.ServerStreamingServer[runtime.StreamContainersResponse]) error {
	resp, err := s.ListContainers(stream.Context(), &runtime.ListContainersRequest{Filter: r.GetFilter()})
	if err != nil {
		return err
	}
	return sendChunks(resp.Containers, func(c []*runtime.Container) error {
		return stream.Send(&runtime.StreamContainersResponse{Containers: c})
	})
}

// StreamContainerStats is ListContainerStats as a stream.
func (s *Server) StreamContainerStats(r *runtime.StreamContainerStatsRequest, stream grpc.ServerStreamingServer[runtime.StreamContainerStatsResponse]) error {
	resp, err := s.ListContainerStats(stream.Context(), &runtime.ListContainerStatsRequest{Filter: r.GetFilter()})
	if err != nil {
		return err
	}
	return sendChunks(resp.Stats, func(c []*runtime.ContainerStats) error {
		return stream.Send(&runtime.StreamContainerStatsResponse{ContainerStats: c})
	})
}

// StreamPodSandboxStats is ListPodSandboxStats as a stream.
func (s *Server) StreamPodSandboxStats(r *runtime.StreamPodSandboxStatsRequest, stream grpc.ServerStreamingServer[runtime.StreamPodSandboxStatsResponse]) error {
	resp, err := s.ListPodSandboxStats(stream.Context(), &runtime.ListPodSandboxStatsRequest{Filter: r.GetFilter()})
	if err != nil {
		return err
	}
	return sendChunks(resp.Stats, func(c []*runtime.PodSandboxStats) error {
		return stream.Send(&runtime.StreamPodSandboxStatsResponse{PodSandboxStats: c})
	})
}

// StreamImages is ListImages as a stream.
func (s *Server) StreamImages(r *runtime.StreamImagesRequest, stream grpc.ServerStreamingServer[runtime.StreamImagesResponse]) error {
	resp, err := s.ListImages(stream.Context(), &runtime.ListImagesRequest{Filter: r.GetFilter()})
	if err != nil {
		return err
	}
	return sendChunks(resp.Images, func(c []*runtime.Image) error {
		return stream.Send(&runtime.StreamImagesResponse{Images: c})
	})
}

// StreamPodSandboxMetrics is ListPodSandboxMetrics as a stream.
func (s *Server) StreamPodSandboxMetrics(r *runtime.StreamPodSandboxMetricsRequest, stream grpc.ServerStreamingServer[runtime.StreamPodSandboxMetricsResponse]) error {
	resp, err := s.ListPodSandboxMetrics(stream.Context(), &runtime.ListPodSandboxMetricsRequest{})
	if err != nil {
		return err
	}
	// Metrics of one pod can be large: one pod per message.
	for _, pm := range resp.PodMetrics {
		if err := stream.Send(&runtime.StreamPodSandboxMetricsResponse{PodSandboxMetrics: []*runtime.PodSandboxMetrics{pm}}); err != nil {
			return err
		}
	}
	return nil
}
