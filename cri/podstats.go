package cri

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/container"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/stats"
)

// PodSandboxStats reports a ready pod's usage and its containers'.
func (s *Server) PodSandboxStats(ctx context.Context, r *runtime.PodSandboxStatsRequest) (*runtime.PodSandboxStatsResponse, error) {
	if err := checkID("pod_sandbox_id", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	sb, err := s.readySandbox(r.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	st, err := s.Containers.PodStats(ctx, sb)
	if err != nil {
		return nil, err
	}
	return &runtime.PodSandboxStatsResponse{Stats: toPodStats(sb, st)}, nil
}

// ListPodSandboxStats reports the usage of ready pods matching the filter.
func (s *Server) ListPodSandboxStats(ctx context.Context, r *runtime.ListPodSandboxStatsRequest) (*runtime.ListPodSandboxStatsResponse, error) {
	out := []*runtime.PodSandboxStats{}
	for _, sb := range s.readyPods(r.GetFilter().GetId(), r.GetFilter().GetLabelSelector()) {
		st, err := s.Containers.PodStats(ctx, sb)
		if err != nil {
			continue // stopped since the listing
		}
		out = append(out, toPodStats(sb, st))
	}
	return &runtime.ListPodSandboxStatsResponse{Stats: out}, nil
}

// ListMetricDescriptors lists the cAdvisor-style metrics cricket reports.
func (s *Server) ListMetricDescriptors(ctx context.Context, r *runtime.ListMetricDescriptorsRequest) (*runtime.ListMetricDescriptorsResponse, error) {
	return &runtime.ListMetricDescriptorsResponse{Descriptors: stats.Descriptors()}, nil
}

// ListPodSandboxMetrics reports every ready pod's metrics.
func (s *Server) ListPodSandboxMetrics(ctx context.Context, r *runtime.ListPodSandboxMetricsRequest) (*runtime.ListPodSandboxMetricsResponse, error) {
	out := []*runtime.PodSandboxMetrics{}
	for _, sb := range s.readyPods("", nil) {
		out = append(out, s.podMetrics(ctx, sb))
	}
	return &runtime.ListPodSandboxMetricsResponse{PodMetrics: out}, nil
}

func (s *Server) podMetrics(ctx context.Context, sb *sandbox.Sandbox) *runtime.PodSandboxMetrics {
	pod, ctrs := s.Containers.PodMetrics(ctx, sb)
	pm := &runtime.PodSandboxMetrics{PodSandboxId: sb.ID, Metrics: pod}
	for id, ms := range ctrs {
		pm.ContainerMetrics = append(pm.ContainerMetrics, &runtime.ContainerMetrics{ContainerId: id, Metrics: ms})
	}
	return pm
}

// readyPods lists ready sandboxes by ID (prefix) and labels.
func (s *Server) readyPods(id string, selector map[string]string) []*sandbox.Sandbox {
	var sbs []*sandbox.Sandbox
	if id != "" {
		if sb, err := s.Sandboxes.Get(id); err == nil {
			sbs = []*sandbox.Sandbox{sb}
		}
	} else {
		sbs = s.Sandboxes.List()
	}
	out := sbs[:0]
	for _, sb := range sbs {
		if sb.Status().State == sandbox.StateReady && labelsMatch(sb.Config.GetLabels(), selector) {
			out = append(out, sb)
		}
	}
	return out
}

func toPodStats(sb *sandbox.Sandbox, st *container.PodStats) *runtime.PodSandboxStats {
	ts := st.Sample.Time.UnixNano()
	linux := &runtime.LinuxPodSandboxStats{
		Cpu: &runtime.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: &runtime.UInt64Value{Value: st.Sample.CPUUsageNanos}},
		Memory: &runtime.MemoryUsage{
			Timestamp:       ts,
			WorkingSetBytes: &runtime.UInt64Value{Value: st.Sample.WorkingSet()},
			UsageBytes:      &runtime.UInt64Value{Value: st.Sample.MemoryUsage},
			RssBytes:        &runtime.UInt64Value{Value: st.Sample.MemoryRSS},
			PageFaults:      &runtime.UInt64Value{Value: st.Sample.PageFaults},
			MajorPageFaults: &runtime.UInt64Value{Value: st.Sample.MajorPageFaults},
		},
		Process: &runtime.ProcessUsage{Timestamp: ts, ProcessCount: &runtime.UInt64Value{Value: st.Sample.PIDs}},
	}
	if st.NanoCores != nil {
		linux.Cpu.UsageNanoCores = &runtime.UInt64Value{Value: *st.NanoCores}
	}
	linux.Io = addPsi(st.Sample, ts, linux.Cpu, linux.Memory)
	netUsage := &runtime.NetworkUsage{Timestamp: st.NetTime.UnixNano()}
	for _, i := range st.Interfaces {
		u := &runtime.NetworkInterfaceUsage{
			Name:     i.Name,
			RxBytes:  &runtime.UInt64Value{Value: i.RxBytes},
			RxErrors: &runtime.UInt64Value{Value: i.RxErrors},
			TxBytes:  &runtime.UInt64Value{Value: i.TxBytes},
			TxErrors: &runtime.UInt64Value{Value: i.TxErrors},
		}
		if i.Name == "eth0" || netUsage.DefaultInterface == nil {
			netUsage.DefaultInterface = u
		}
		netUsage.Interfaces = append(netUsage.Interfaces, u)
	}
	linux.Network = netUsage
	for i, c := range st.Containers {
		linux.Containers = append(linux.Containers, toContainerStats(c, st.Stats[i]))
	}
	return &runtime.PodSandboxStats{
		Attributes: &runtime.PodSandboxAttributes{
			Id:          sb.ID,
			Metadata:    sb.Config.GetMetadata(),
			Labels:      sb.Config.GetLabels(),
			Annotations: sb.Config.GetAnnotations(),
		},
		Linux: linux,
	}
}

// readySandbox returns the sandbox id if it is ready: stats and port
// forwarding need its running namespaces.
func (s *Server) readySandbox(id string) (*sandbox.Sandbox, error) {
	sb, err := s.Sandboxes.Get(id)
	if err != nil {
		return nil, err
	}
	if sb.Status().State != sandbox.StateReady {
		return nil, fmt.Errorf("sandbox %s is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	return sb, nil
}
