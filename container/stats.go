package container

import (
	"context"
	"sync"
	"time"

	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/stats"
)

// Stats are a container's resource usage.
type Stats struct {
	*stats.Sample
	// NanoCores is the CPU used between the last two samples (nil until
	// there are two).
	NanoCores *uint64
	// Writable layer usage (the container's snapshot), with its time.
	LayerTime       time.Time
	LayerBytes      uint64
	LayerInodes     uint64
	LayerMountpoint string
}

// layerUsageMaxAge bounds how stale a writable layer usage may be: it walks
// the layer's files, so it is not measured on every call.
const layerUsageMaxAge = 10 * time.Second

type layerUsage struct {
	at            time.Time
	bytes, inodes uint64
}

// layerCache memoizes writable layer usage per container.
type layerCache struct {
	mu sync.Mutex
	m  map[string]layerUsage
}

// StatsTargets lists running containers and ready pods for the
// background collector.
func (m *Manager) StatsTargets() []stats.Target {
	var out []stats.Target
	for _, c := range m.store.list("") {
		if c.Status().State == StateRunning {
			out = append(out, stats.Target{ID: c.ID, CgroupPath: c.CgroupPath})
		}
	}
	for _, sb := range m.sandboxes.List() {
		if sb.Status().State == sandbox.StateReady {
			path, _ := m.podCgroup(sb)
			out = append(out, stats.Target{ID: podTargetID(sb.ID), CgroupPath: path})
		}
	}
	return out
}

// Stats measures a running container. A container that is not running has
// no cgroup: its stats are an error (callers listing stats skip it).
func (m *Manager) Stats(ctx context.Context, c *Container) (*Stats, error) {
	s, cores, err := m.opts.Stats.Get(stats.Target{ID: c.ID, CgroupPath: c.CgroupPath})
	if err != nil {
		return nil, err
	}
	out := &Stats{Sample: s, NanoCores: cores}
	lu := m.layerUsage(m.ctx(ctx), c.ID)
	out.LayerTime, out.LayerBytes, out.LayerInodes = lu.at, lu.bytes, lu.inodes
	out.LayerMountpoint = m.images.SnapshotterRoot(ctx)
	return out, nil
}

func (m *Manager) layerUsage(ctx context.Context, id string) layerUsage {
	m.layers.mu.Lock()
	lu, ok := m.layers.m[id]
	m.layers.mu.Unlock()
	if ok && time.Since(lu.at) < layerUsageMaxAge {
		return lu
	}
	u, err := m.client.SnapshotService(m.opts.Snapshotter).Usage(ctx, id)
	if err != nil {
		return lu
	}
	lu = layerUsage{at: time.Now(), bytes: uint64(u.Size), inodes: uint64(u.Inodes)}
	m.layers.mu.Lock()
	if m.layers.m == nil {
		m.layers.m = map[string]layerUsage{}
	}
	m.layers.m[id] = lu
	m.layers.mu.Unlock()
	return lu
}

func (m *Manager) forgetLayer(id string) {
	m.layers.mu.Lock()
	delete(m.layers.m, id)
	m.layers.mu.Unlock()
}
