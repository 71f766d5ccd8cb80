package image

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
)

// FsUsage is the space the snapshotter's filesystem spends on images and
// container layers.
type FsUsage struct {
	Timestamp  time.Time
	Mountpoint string // the snapshotter's root directory
	// All is every snapshot: image layers and containers' writable layers,
	// which share the snapshotter's root and so its filesystem.
	All Usage
	// Writable is the containers' writable layers alone (active
	// snapshots: each container's and pause container's rootfs).
	Writable Usage
}

// Usage is bytes and inodes used.
type Usage struct {
	Bytes, Inodes uint64
}

func (u *Usage) add(s snapshots.Usage) {
	u.Bytes += uint64(s.Size)
	u.Inodes += uint64(s.Inodes)
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

// FsInfo reports the snapshotter's root and the bytes and inodes used by
// snapshots in cricket's namespace: all of them, and the writable layers.
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
		u.All.add(usage)
		// An image layer is unpacked into an active snapshot too, before
		// it is committed: image data, not a writable layer.
		if info.Kind == snapshots.KindActive && !strings.HasPrefix(info.Name, snapshots.UnpackKeyPrefix+"-") {
			u.Writable.add(usage)
		}
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
