package container

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/spec"
	"github.com/cricket-cri/cricket/stats"
)

// PodStats are a pod's resource usage.
type PodStats struct {
	// Sample is the pod's cgroup reading: its cgroup parent when kubelet
	// gave one, else the sum of the pause container and the containers
	// (without pressure figures, which do not add up).
	Sample     *stats.Sample
	NanoCores  *uint64
	Interfaces []stats.Interface
	NetTime    time.Time
	Containers []*Container
	Stats      []*Stats
}

// podTargetID names a pod's cgroup in the stats collector.
func podTargetID(sandboxID string) string { return "pod:" + sandboxID }

// podCgroup is the cgroup of a pod's usage: its parent, which holds it
// all (whole), when it has one, else the pause container's, to which the
// containers' usage is added.
func (m *Manager) podCgroup(sb *sandbox.Sandbox) (path string, whole bool) {
	if sb.CgroupParent != "" {
		return parentPath(sb.CgroupParent, m.opts.SystemdCgroup), true
	}
	return spec.CgroupFSPath(m.sandboxes.CgroupsPath(sb, sb.ID)), false
}

// parentPath is a cgroup parent's path below the controller mounts.
func parentPath(parent string, systemd bool) string {
	if !systemd {
		return parent
	}
	return spec.SlicePath(parent)
}

// PodStats measures a ready pod and its running containers.
func (m *Manager) PodStats(ctx context.Context, sb *sandbox.Sandbox) (*PodStats, error) {
	path, whole := m.podCgroup(sb)
	sample, cores, err := m.opts.Stats.Get(stats.Target{ID: podTargetID(sb.ID), CgroupPath: path})
	if errors.Is(err, stats.ErrGone) && sb.Pinned {
		// No pause process: the pod's cgroup exists once runc made it
		// for the first container. Until then the pod uses nothing.
		sample, cores, whole, err = &stats.Sample{Time: time.Now()}, nil, false, nil
	}
	if err != nil {
		return nil, err
	}
	out := &PodStats{}
	agg := *sample
	if !whole {
		// Stall times do not add up across cgroups (two containers
		// waiting at once are one pod waiting): only a cgroup holding the
		// whole pod has pressure figures of the pod.
		agg.CPUPressure, agg.MemoryPressure, agg.IOPressure = nil, nil, nil
	}
	for _, c := range m.store.list(sb.ID) {
		if c.Status().State != StateRunning {
			continue
		}
		st, err := m.Stats(ctx, c)
		if err != nil {
			continue
		}
		out.Containers = append(out.Containers, c)
		out.Stats = append(out.Stats, st)
		if !whole {
			addSample(&agg, st.Sample)
			if cores != nil && st.NanoCores != nil {
				v := *cores + *st.NanoCores
				cores = &v
			}
		}
	}
	out.Sample, out.NanoCores = &agg, cores
	out.NetTime = time.Now()
	out.Interfaces, _ = stats.NetworkInterfaces(sb.NetNSPath)
	return out, nil
}

func addSample(dst, s *stats.Sample) {
	dst.CPUUsageNanos += s.CPUUsageNanos
	dst.CPUUserNanos += s.CPUUserNanos
	dst.CPUSystemNanos += s.CPUSystemNanos
	dst.MemoryUsage += s.MemoryUsage
	dst.MemoryRSS += s.MemoryRSS
	dst.MemoryCache += s.MemoryCache
	dst.MemorySwap += s.MemorySwap
	dst.InactiveFile += s.InactiveFile
	dst.PageFaults += s.PageFaults
	dst.MajorPageFaults += s.MajorPageFaults
	dst.PIDs += s.PIDs
}

// PodMetrics returns a pod's cAdvisor-style metrics: network metrics for
// the pod, and per running container the rest.
func (m *Manager) PodMetrics(ctx context.Context, sb *sandbox.Sandbox) ([]*runtime.Metric, map[string][]*runtime.Metric) {
	md := sb.Config.GetMetadata()
	ifaces, _ := stats.NetworkInterfaces(sb.NetNSPath)
	pod := stats.PodNetworkMetrics(sb.ID, md.GetNamespace(), md.GetName(), ifaces)
	fs := m.filesystem(ctx)
	containers := map[string][]*runtime.Metric{}
	for _, c := range m.store.list(sb.ID) {
		st := c.Status()
		if st.State != StateRunning {
			continue
		}
		s, err := m.Stats(ctx, c)
		if err != nil {
			continue
		}
		cfs := fs
		cfs.UsedBytes = s.LayerBytes
		res := st.Resources
		containers[c.ID] = stats.ContainerMetrics(stats.ContainerInput{
			ID: c.ID, Image: c.ImageName, Namespace: md.GetNamespace(), Pod: md.GetName(), Name: c.Config.GetMetadata().GetName(),
			Sample:      s.Sample,
			Processes:   stats.ReadProcesses(c.CgroupPath),
			FS:          cfs,
			CPUPeriod:   uint64(max(res.GetCpuPeriod(), 0)),
			CPUShares:   uint64(max(res.GetCpuShares(), 0)),
			MemoryLimit: uint64(max(res.GetMemoryLimitInBytes(), 0)),
			SwapLimit:   uint64(max(res.GetMemorySwapLimitInBytes(), 0)),
			StartedAt:   st.StartedAt,
		})
	}
	return pod, containers
}

// filesystem describes the filesystem of writable layers (the snapshotter
// root's).
func (m *Manager) filesystem(ctx context.Context) stats.FS {
	root := m.images.SnapshotterRoot(ctx)
	fs := stats.FS{Device: stats.DeviceOf(root)}
	var st unix.Statfs_t
	if root != "" && unix.Statfs(root, &st) == nil {
		fs.CapacityBytes = st.Blocks * uint64(st.Bsize)
		fs.InodesTotal, fs.InodesFree = st.Files, st.Ffree
	}
	return fs
}
