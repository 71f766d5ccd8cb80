// Package image is cricket's image service on containerd: pulling through
// containerd-style registry host configuration, resolving references and IDs,
// listing, removing and measuring images. containerd's image records are the
// only state; see catalog.go for how records map to CRI images.
package image

import (
	"context"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"

	"github.com/cricket-cri/cricket/config"
)

// Options configure the image Service.
type Options struct {
	// Snapshotter images are unpacked into.
	Snapshotter string
	// Config is the running configuration, read at the time of use:
	// registry.config_path (a containerd-style hosts.toml directory) by
	// every pull as it starts, sandbox_image (reported pinned) by every
	// listing.
	Config *config.Live
	// PullProgressTimeout cancels a pull that receives nothing for this long.
	PullProgressTimeout time.Duration
	// SpoolDir holds the files of layers downloaded ahead of their unpack
	// (unlinked as soon as they are created); empty: the system's
	// temporary directory.
	SpoolDir string
	// OnPull, if set, is told about every pull: bytes downloaded,
	// duration and outcome.
	OnPull func(bytes int64, d time.Duration, err error)
	Log    *slog.Logger
}

// Service implements the CRI image operations. Safe for concurrent use.
type Service struct {
	client   *client.Client
	opts     Options
	platform platforms.MatchComparer
	// pinnedName caches the sandbox image's normalized name.
	pinnedName atomic.Pointer[normalizedRef]
	content    *contentCache
	pulls      flights
	// unpackLocks keeps two pulls from fetching or unpacking one blob or
	// snapshot at once.
	unpackLocks *keyLocks
	// downloads are the layer downloads under way, shared by pulls.
	downloads *sharedDownloads
	fsUsage   fsUsageCache
	cache     catalogCache
}

// New returns an image Service on a connected containerd client whose
// default namespace is cricket's.
func New(c *client.Client, opts Options) (*Service, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if _, err := ParseRef(opts.Config.Get().SandboxImage); err != nil {
		return nil, err
	}
	if opts.SpoolDir != "" {
		if err := os.MkdirAll(opts.SpoolDir, 0o700); err != nil {
			return nil, err
		}
	}
	platform := platforms.Default()
	return &Service{
		client:      c,
		opts:        opts,
		platform:    platform,
		content:     newContentCache(c.ContentStore(), platform),
		unpackLocks: newKeyLocks(),
		downloads:   newSharedDownloads(),
	}, nil
}

// Get resolves ref (a name in any form, a full image ID or a unique ID
// prefix). Absent images are errdefs NotFound errors.
func (s *Service) Get(ctx context.Context, ref string) (*Image, error) {
	cat, kept, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	img, err := cat.find(ref)
	if kept && errdefs.IsNotFound(err) {
		// Made by another client since, its event not yet seen: only a
		// listing can tell.
		s.cache.invalidate()
		if cat, _, err = s.catalog(ctx); err != nil {
			return nil, err
		}
		img, err = cat.find(ref)
	}
	return img, err
}

// List returns every image, each once with all of its tags and digests.
func (s *Service) List(ctx context.Context) ([]*Image, error) {
	cat, _, err := s.catalog(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Image, 0, len(cat.byID))
	for _, img := range cat.byID {
		out = append(out, img)
	}
	return out, nil
}

// Ensure returns the image ref names, pulling it (without credentials) if
// it is not present.
func (s *Service) Ensure(ctx context.Context, ref string) (*Image, error) {
	img, err := s.Get(ctx, ref)
	if err == nil || !errdefs.IsNotFound(err) {
		return img, err
	}
	id, err := s.Pull(ctx, ref, nil)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}
