package image

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// contentInfo is what cricket reads from an image's content: immutable for a
// given target digest, so it is cached for the daemon's lifetime.
type contentInfo struct {
	configDesc ocispec.Descriptor
	config     ocispec.Image
	chainID    digest.Digest
	size       int64
}

// contentCache reads and memoizes contentInfo per target digest.
type contentCache struct {
	store    content.Store
	platform platforms.MatchComparer

	mu      sync.Mutex
	entries map[digest.Digest]*contentInfo
}

func newContentCache(store content.Store, platform platforms.MatchComparer) *contentCache {
	return &contentCache{store: store, platform: platform, entries: map[digest.Digest]*contentInfo{}}
}

func (c *contentCache) get(ctx context.Context, target ocispec.Descriptor) (*contentInfo, error) {
	c.mu.Lock()
	ci, ok := c.entries[target.Digest]
	c.mu.Unlock()
	if ok {
		return ci, nil
	}
	configDesc, err := images.Config(ctx, c.store, target, c.platform)
	if err != nil {
		return nil, fmt.Errorf("image %s: find config: %w", target.Digest, err)
	}
	raw, err := content.ReadBlob(ctx, c.store, configDesc)
	if err != nil {
		return nil, fmt.Errorf("image %s: read config: %w", target.Digest, err)
	}
	ci = &contentInfo{configDesc: configDesc}
	if err := json.Unmarshal(raw, &ci.config); err != nil {
		return nil, fmt.Errorf("image %s: decode config: %w", target.Digest, err)
	}
	ci.chainID = identity.ChainID(ci.config.RootFS.DiffIDs)
	img := images.Image{Target: target}
	if ci.size, err = img.Size(ctx, c.store, c.platform); err != nil {
		return nil, fmt.Errorf("image %s: size: %w", target.Digest, err)
	}
	c.mu.Lock()
	c.entries[target.Digest] = ci
	c.mu.Unlock()
	return ci, nil
}
