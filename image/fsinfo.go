package image

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
)

// FsUsage is the space the snapshotter's filesystem spends on images and
// container layers.
type FsUsage struct {
	Timestamp  time.Time
	Mountpoint string // the snapshotter's root directory
	UsedBytes  uint64
	InodesUsed uint64
}

// fsUsageCache bounds the cost of FsInfo: summing snapshot usage walks the
// writable layers, so results are reused for a short while (kubelet polls).
type fsUsageCache struct {
	mu    sync.Mutex
	last  FsUsage
	valid time.Time
	root  string
}

const fsUsageMaxAge = 2 * time.Second

// FsInfo reports the snapshotter's root and the bytes and inodes used by all
// snapshots in cricket's namespace.
func (s *Service) FsInfo(ctx context.Context) (FsUsage, error) {
	c := &s.fsUsage
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Now().Before(c.valid) {
		return c.last, nil
	}
	if c.root == "" {
		root, err := s.snapshotterRoot(ctx)
		if err != nil {
			return FsUsage{}, err
		}
		c.root = root
	}
	sn := s.client.SnapshotService(s.opts.Snapshotter)
	u := FsUsage{Timestamp: time.Now(), Mountpoint: c.root}
	err := sn.Walk(ctx, func(ctx context.Context, info snapshots.Info) error {
		usage, err := sn.Usage(ctx, info.Name)
		if err != nil {
			return nil // removed while walking
		}
		u.UsedBytes += uint64(usage.Size)
		u.InodesUsed += uint64(usage.Inodes)
		return nil
	})
	if err != nil {
		return FsUsage{}, fmt.Errorf("walk %s snapshots: %w", s.opts.Snapshotter, err)
	}
	c.last, c.valid = u, time.Now().Add(fsUsageMaxAge)
	return u, nil
}

// snapshotterRoot asks containerd where the snapshotter keeps its data.
func (s *Service) snapshotterRoot(ctx context.Context) (string, error) {
	resp, err := s.client.IntrospectionService().Plugins(ctx, "type==io.containerd.snapshotter.v1,id=="+s.opts.Snapshotter)
	if err != nil {
		return "", fmt.Errorf("introspect snapshotter %s: %w", s.opts.Snapshotter, err)
	}
	for _, p := range resp.Plugins {
		if root := p.Exports["root"]; root != "" {
			return root, nil
		}
	}
	return "", fmt.Errorf("snapshotter %s does not export its root", s.opts.Snapshotter)
}

// SnapshotterRoot returns the snapshotter's root directory (the filesystem
// of images and writable layers), or "" if containerd cannot say.
func (s *Service) SnapshotterRoot(ctx context.Context) string {
	c := &s.fsUsage
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.root == "" {
		c.root, _ = s.snapshotterRoot(ctx)
	}
	return c.root
}
