package cri

import (
	"context"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/container"
)

// ContainerStats reports a running container's resource usage.
func (s *Server) ContainerStats(ctx context.Context, r *runtime.ContainerStatsRequest) (*runtime.ContainerStatsResponse, error) {
	if err := checkID("container_id", r.GetContainerId()); err != nil {
		return nil, err
	}
	c, err := s.Containers.Get(r.GetContainerId())
	if err != nil {
		return nil, err
	}
	st, err := s.Containers.Stats(ctx, c)
	if err != nil {
		return nil, err
	}
	return &runtime.ContainerStatsResponse{Stats: toContainerStats(c, st)}, nil
}

// ListContainerStats reports the usage of running containers matching the
// filter.
func (s *Server) ListContainerStats(ctx context.Context, r *runtime.ListContainerStatsRequest) (*runtime.ListContainerStatsResponse, error) {
	f := r.GetFilter()
	cf := &runtime.ContainerFilter{
		Id:            f.GetId(),
		PodSandboxId:  f.GetPodSandboxId(),
		LabelSelector: f.GetLabelSelector(),
		State:         &runtime.ContainerStateValue{State: runtime.ContainerState_CONTAINER_RUNNING},
	}
	out := []*runtime.ContainerStats{}
	for _, c := range s.filterContainers(cf) {
		st, err := s.Containers.Stats(ctx, c)
		if err != nil {
			continue // exited between the listing and the reading
		}
		out = append(out, toContainerStats(c, st))
	}
	return &runtime.ListContainerStatsResponse{Stats: out}, nil
}

func toContainerStats(c *container.Container, st *container.Stats) *runtime.ContainerStats {
	ts := st.Time.UnixNano()
	out := &runtime.ContainerStats{
		Attributes: &runtime.ContainerAttributes{
			Id:          c.ID,
			Metadata:    c.Config.GetMetadata(),
			Labels:      c.Config.GetLabels(),
			Annotations: c.Config.GetAnnotations(),
		},
		Cpu: &runtime.CpuUsage{
			Timestamp:            ts,
			UsageCoreNanoSeconds: &runtime.UInt64Value{Value: st.CPUUsageNanos},
		},
		Memory: &runtime.MemoryUsage{
			Timestamp:       ts,
			WorkingSetBytes: &runtime.UInt64Value{Value: st.WorkingSet()},
			UsageBytes:      &runtime.UInt64Value{Value: st.MemoryUsage},
			RssBytes:        &runtime.UInt64Value{Value: st.MemoryRSS},
			PageFaults:      &runtime.UInt64Value{Value: st.PageFaults},
			MajorPageFaults: &runtime.UInt64Value{Value: st.MajorPageFaults},
		},
		Swap: &runtime.SwapUsage{
			Timestamp:      ts,
			SwapUsageBytes: &runtime.UInt64Value{Value: st.MemorySwap},
		},
		WritableLayer: &runtime.FilesystemUsage{
			Timestamp:  st.LayerTime.UnixNano(),
			FsId:       &runtime.FilesystemIdentifier{Mountpoint: st.LayerMountpoint},
			UsedBytes:  &runtime.UInt64Value{Value: st.LayerBytes},
			InodesUsed: &runtime.UInt64Value{Value: st.LayerInodes},
		},
	}
	if st.NanoCores != nil {
		out.Cpu.UsageNanoCores = &runtime.UInt64Value{Value: *st.NanoCores}
	}
	out.Io = addPsi(st.Sample, ts, out.Cpu, out.Memory)
	if st.MemoryLimit > 0 && st.MemoryLimit < 1<<62 && st.MemoryLimit > st.WorkingSet() {
		out.Memory.AvailableBytes = &runtime.UInt64Value{Value: st.MemoryLimit - st.WorkingSet()}
	}
	return out
}
