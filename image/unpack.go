package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/diff/apply"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/unpack"
	"github.com/containerd/containerd/v2/pkg/labels"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"

	"github.com/cricket-cri/cricket/internal/steps"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// errNotUnpacked: the image had nothing the streaming unpacker could
// unpack (e.g. a config type it does not know); the caller falls back to
// containerd's pull.
var errNotUnpacked = errors.New("nothing unpacked")

// fetchAndUnpack pulls ref: the index, manifest and config go to
// containerd's content store as with containerd's own pull, and each layer
// goes straight from the registry into its snapshot: cricketd decompresses
// and extracts the stream as it arrives (containerd's applier, run here),
// so a layer's bytes are neither sent to containerd, nor written to disk
// compressed, nor read back to be applied. Layers still download
// concurrently (see layerPrefetch) and each is applied as soon as the
// layers below it are.
//
// Layers are verified through their diff IDs: the digest of the
// uncompressed stream must be the config's, itself verified by digest
// through the manifest, before the snapshot is committed. A layer blob that
// is already in the content store (pulled by containerd) is applied from
// there by containerd's diff service instead.
func (s *Service) fetchAndUnpack(ctx context.Context, ref string, resolver remotes.Resolver, tracker *progressTracker, maxDownloads int, t *steps.Timer) (images.Image, error) {
	name, desc, err := resolver.Resolve(ctx, ref)
	if err != nil {
		return images.Image{}, fmt.Errorf("failed to resolve reference %q: %w", ref, err)
	}
	t.Step("resolve")
	fetcher, err := resolver.Fetcher(ctx, name)
	if err != nil {
		return images.Image{}, fmt.Errorf("failed to get fetcher for %q: %w", name, err)
	}
	store := s.client.ContentStore()
	sn := s.opts.Snapshotter
	caps, err := s.client.GetSnapshotterCapabilities(ctx, sn)
	if err != nil {
		return images.Image{}, fmt.Errorf("snapshotter %s capabilities: %w", sn, err)
	}
	prefetch := newLayerPrefetch(fetcher, maxDownloads, s.opts.SpoolDir, s.downloads, tracker)
	defer prefetch.close()
	applier := &streamApplier{
		local:    apply.NewFileSystemApplier(prefetch),
		daemon:   s.client.DiffService(),
		content:  store,
		prefetch: prefetch,
	}
	unpacker, err := unpack.NewUnpacker(ctx, layerlessStore{Store: store, streamed: &applier.streamed},
		unpack.WithUnpackPlatform(unpack.Platform{
			Platform:                platforms.All,
			SnapshotterKey:          sn,
			Snapshotter:             s.client.SnapshotService(sn),
			Applier:                 applier,
			SnapshotterCapabilities: caps,
		}),
		unpack.WithDuplicationSuppressor(s.unpackLocks),
	)
	if err != nil {
		return images.Image{}, err
	}

	children := images.ChildrenHandler(store)
	children = images.SetChildrenMappedLabels(store, children, nil)
	children = images.FilterPlatforms(children, s.platform)
	children = images.LimitManifests(children, s.platform, 1)
	distSource, err := docker.AppendDistributionSourceLabel(store, name)
	if err != nil {
		return images.Image{}, err
	}
	// Everything but layers is fetched into the content store; layers
	// reach the handler only from the unpacker, when their turn to be
	// applied comes, and are read by the applier. Once the config is in,
	// the prefetcher starts on the layers the unpack will need.
	inner := images.Handlers(remotes.FetchHandler(store, fetcher), children, distSource)
	var (
		mu       sync.Mutex
		byConfig = map[digest.Digest][]ocispec.Descriptor{}
	)
	handler := images.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if images.IsLayerType(d.MediaType) {
			return nil, nil
		}
		out, err := inner.Handle(ctx, d)
		if err != nil {
			return out, err
		}
		switch {
		case images.IsManifestType(d.MediaType):
			var layers []ocispec.Descriptor
			var config digest.Digest
			for _, c := range out {
				if images.IsLayerType(c.MediaType) {
					layers = append(layers, c)
				} else if images.IsConfigType(c.MediaType) {
					config = c.Digest
				}
			}
			mu.Lock()
			byConfig[config] = layers
			mu.Unlock()
		case images.IsConfigType(d.MediaType):
			mu.Lock()
			layers := byConfig[d.Digest]
			mu.Unlock()
			s.planPrefetch(ctx, prefetch, store, d, layers)
		}
		return out, nil
	})
	dispatchErr := images.Dispatch(ctx, unpacker.Unpack(handler), nil, desc)
	t.Step("manifest+config")
	res, err := unpacker.Wait()
	t.Step("layers")
	if dispatchErr != nil {
		return images.Image{}, dispatchErr
	}
	if err != nil {
		return images.Image{}, err
	}
	if res.Unpacks == 0 {
		return images.Image{}, errNotUnpacked
	}
	return images.Image{Name: name, Target: desc}, nil
}

// planPrefetch starts the downloads of the layers the unpack will apply:
// those above the highest of the image's snapshots that exists already and
// whose blob is not in the content store. A layer another pull is making
// the snapshot of is that pull's download (it holds it until its snapshots
// are committed), which this one joins; its unpack then waits for the
// other's snapshot, through the shared lock, and skips the layer.
func (s *Service) planPrefetch(ctx context.Context, p *layerPrefetch, store content.Store, config ocispec.Descriptor, layers []ocispec.Descriptor) {
	raw, err := content.ReadBlob(ctx, store, config)
	if err != nil {
		return
	}
	var img ocispec.Image
	if json.Unmarshal(raw, &img) != nil || len(img.RootFS.DiffIDs) != len(layers) {
		return
	}
	chain := identity.ChainIDs(slices.Clone(img.RootFS.DiffIDs))
	// A snapshot exists only over its parent: the existing ones are a
	// prefix of the chain, found in log(n) look-ups.
	sn := s.client.SnapshotService(s.opts.Snapshotter)
	have, _ := slices.BinarySearchFunc(chain, true, func(c digest.Digest, _ bool) int {
		if _, err := sn.Stat(ctx, c.String()); err == nil {
			return -1
		}
		return 1
	})
	// Blobs in the content store, in one listing.
	var filters []string
	for _, l := range layers[have:] {
		filters = append(filters, fmt.Sprintf("digest==%q", l.Digest))
	}
	stored := map[digest.Digest]bool{}
	if len(filters) > 0 {
		store.Walk(ctx, func(info content.Info) error {
			stored[info.Digest] = true
			return nil
		}, filters...)
	}
	p.plan(layers, func(i int, l ocispec.Descriptor) bool {
		return i < have || stored[l.Digest]
	})
}

// streamApplier applies a layer from the registry stream (through the
// prefetcher), or with containerd's diff service when the layer's blob is
// in the content store.
type streamApplier struct {
	local    diff.Applier
	daemon   diff.Applier
	content  content.Store
	prefetch *layerPrefetch
	// streamed are the layers applied from the registry (digest -> true).
	streamed sync.Map
}

func (a *streamApplier) Apply(ctx context.Context, desc ocispec.Descriptor, mounts []mount.Mount, opts ...diff.ApplyOpt) (ocispec.Descriptor, error) {
	// A prefetched layer was planned as not in the content store.
	if !a.prefetch.has(desc.Digest) {
		if _, err := a.content.Info(ctx, desc.Digest); err == nil {
			return a.daemon.Apply(ctx, desc, mounts, opts...)
		}
	}
	if !kernelMounts(mounts) {
		// Mounts only containerd knows how to make (containerd 2's mount
		// manager): the blob goes to the content store, and containerd's
		// diff service applies it.
		if err := a.store(ctx, desc); err != nil {
			return ocispec.Descriptor{}, err
		}
		return a.daemon.Apply(ctx, desc, mounts, opts...)
	}
	a.streamed.Store(desc.Digest, true)
	return a.local.Apply(ctx, desc, mounts, opts...)
}

// store copies the layer's stream into the content store.
func (a *streamApplier) store(ctx context.Context, desc ocispec.Descriptor) error {
	ra, err := a.prefetch.ReaderAt(ctx, desc)
	if err != nil {
		return err
	}
	defer ra.Close()
	return content.WriteBlob(ctx, a.content, remotes.MakeRefKey(ctx, desc), content.NewReader(ra), desc)
}

// kernelMounts reports whether mounts are what the kernel mounts as they
// are (no templated options, no mount-manager types), as cricketd can.
func kernelMounts(mounts []mount.Mount) bool {
	for _, m := range mounts {
		if strings.Contains(m.Type, "/") {
			return false
		}
		for _, o := range m.Options {
			if strings.Contains(o, "{{") {
				return false
			}
		}
	}
	return true
}

// layerlessStore is the content store as the unpacker sees it: the layers
// applied from the registry are not in it, so recording their uncompressed
// digest (a cache for later unpacks of the blob) has nothing to label, and
// is not asked of containerd.
type layerlessStore struct {
	content.Store
	streamed *sync.Map
}

func (s layerlessStore) Update(ctx context.Context, info content.Info, fieldpaths ...string) (content.Info, error) {
	uncompressed := len(fieldpaths) == 1 && strings.TrimPrefix(fieldpaths[0], "labels.") == labels.LabelUncompressed
	if _, ok := s.streamed.Load(info.Digest); ok && uncompressed {
		return info, nil
	}
	out, err := s.Store.Update(ctx, info, fieldpaths...)
	if errdefs.IsNotFound(err) && uncompressed {
		return info, nil
	}
	return out, err
}

// layerStream is a layer's registry stream as a content.ReaderAt that can
// only be read in order (the applier reads it through Reader). It fails
// the read that goes past the descriptor's size or ends before it.
type layerStream struct {
	rc   io.ReadCloser
	desc ocispec.Descriptor
	n    int64
}

func (l *layerStream) Reader() io.Reader { return l }

func (l *layerStream) Read(p []byte) (int, error) {
	if rest := l.desc.Size - l.n; int64(len(p)) > rest+1 {
		p = p[:rest+1]
	}
	n, err := l.rc.Read(p)
	l.n += int64(n)
	if l.n > l.desc.Size {
		return n, fmt.Errorf("layer %s: more than its %d bytes: %w", l.desc.Digest, l.desc.Size, errdefs.ErrFailedPrecondition)
	}
	if err == io.EOF && l.n < l.desc.Size {
		err = fmt.Errorf("layer %s: stream ended after %d of %d bytes: %w", l.desc.Digest, l.n, l.desc.Size, io.ErrUnexpectedEOF)
	} else if err != nil && err != io.EOF {
		err = fmt.Errorf("layer %s: after %d of %d bytes: %w", l.desc.Digest, l.n, l.desc.Size, err)
	}
	return n, err
}

func (l *layerStream) ReadAt([]byte, int64) (int, error) {
	return 0, fmt.Errorf("layer stream %s: random access: %w", l.desc.Digest, errdefs.ErrNotImplemented)
}

func (l *layerStream) Size() int64  { return l.desc.Size }
func (l *layerStream) Close() error { return l.rc.Close() }
