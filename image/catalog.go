package image

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
)

// PinnedLabel on an image record marks the image as pinned (never garbage
// collected by kubelet), in addition to the configured sandbox image.
const PinnedLabel = "io.cricket.image.pinned"

// catalog is a consistent view of the images in cricket's namespace, built
// from one listing of containerd's image records and kept until they change
// (see catalogCache). It is not changed once built: callers share it.
type catalog struct {
	byID   map[string]*Image
	byName map[string]*Image // record name -> image
}

// catalog returns the kept catalog or lists the records again; kept says
// which.
func (s *Service) catalog(ctx context.Context) (cat *catalog, kept bool, err error) {
	pinned := s.sandboxImage()
	cat, gen := s.cache.get(pinned)
	if cat != nil {
		return cat, true, nil
	}
	if cat, err = s.listCatalog(ctx, pinned); err != nil {
		return nil, false, err
	}
	s.cache.put(gen, pinned, cat)
	return cat, false, nil
}

// listCatalog builds a catalog from a listing of the image records; pinned
// is the sandbox image.
func (s *Service) listCatalog(ctx context.Context, pinned string) (*catalog, error) {
	recs, err := s.client.ImageService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	cat := &catalog{byID: map[string]*Image{}, byName: map[string]*Image{}}
	for _, r := range recs {
		ci, err := s.content.get(ctx, r.Target)
		if errdefs.IsNotFound(err) {
			// Content not (or no longer) present: a pull in progress by
			// another client, or an image being removed. Not an image yet.
			continue
		}
		if err != nil {
			return nil, err
		}
		id := ci.configDesc.Digest.String()
		img := cat.byID[id]
		if img == nil {
			img = &Image{
				ID:               id,
				Size:             uint64(ci.size),
				Config:           ci.config,
				ConfigDescriptor: ci.configDesc,
				ChainID:          ci.chainID.String(),
				Target:           r.Target,
			}
			cat.byID[id] = img
		}
		img.records = append(img.records, r)
		cat.byName[r.Name] = img
		for _, name := range addReferences(img, r, pinned) {
			cat.byName[name] = img
		}
	}
	for _, img := range cat.byID {
		slices.Sort(img.RepoTags)
		img.RepoTags = slices.Compact(img.RepoTags)
		slices.Sort(img.RepoDigests)
		img.RepoDigests = slices.Compact(img.RepoDigests)
	}
	return cat, nil
}

// addReferences records what one image record says about its image and
// returns the repo digest it implies, which also names the image. A
// record named sandboxImage makes the image pinned.
func addReferences(img *Image, r images.Image, sandboxImage string) []string {
	if r.Labels[PinnedLabel] == "true" {
		img.Pinned = true
	}
	kind, named := classify(r.Name)
	switch kind {
	case kindTag:
		img.RepoTags = append(img.RepoTags, named.String())
		if r.Name == sandboxImage {
			img.Pinned = true
		}
		if d, err := reference.WithDigest(reference.TrimNamed(named), r.Target.Digest); err == nil {
			img.RepoDigests = append(img.RepoDigests, d.String())
			return []string{d.String()}
		}
	case kindDigest:
		img.RepoDigests = append(img.RepoDigests, named.String())
		if r.Name == sandboxImage {
			img.Pinned = true
		}
	}
	return nil
}

// find resolves ref (a name in any form, a full image ID, or a unique ID
// prefix) to an image. It returns an errdefs NotFound error when absent.
func (c *catalog) find(ref string) (*Image, error) {
	if id, ok := asID(ref); ok {
		if img := c.byID[id]; img != nil {
			return img, nil
		}
		return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
	}
	named, perr := ParseRef(ref)
	if perr == nil {
		if img := c.byName[named.String()]; img != nil {
			return img, nil
		}
	}
	if prefix, ok := idPrefix(ref); ok {
		var match *Image
		for id, img := range c.byID {
			if strings.HasPrefix(id, prefix) {
				if match != nil {
					return nil, fmt.Errorf("image ID prefix %q is ambiguous: %w", ref, errdefs.ErrInvalidArgument)
				}
				match = img
			}
		}
		if match != nil {
			return match, nil
		}
	}
	if perr != nil {
		return nil, perr
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}
