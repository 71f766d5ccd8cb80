package image

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
)

// Remove deletes the image ref resolves to, with all its tags, digests and
// its ID record. An absent image is not an error, so concurrent removes of
// one image all succeed.
func (s *Service) Remove(ctx context.Context, ref string) error {
	img, err := s.Get(ctx, ref)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	store := s.client.ImageService()
	// What a removal changed is seen by the next lookup, even when it
	// failed half way.
	defer s.cache.invalidate()
	for i, rec := range img.records {
		// DeleteTarget: a record re-pointed at another image since the
		// listing (a concurrent pull moved the tag) is left alone.
		opts := []images.DeleteOpt{images.DeleteTarget(&rec.Target)}
		if i == len(img.records)-1 {
			// Free the content and snapshots before returning, so that
			// ImageFsInfo and a re-pull see the image gone.
			opts = append(opts, images.SynchronousDelete())
		}
		if err := store.Delete(ctx, rec.Name, opts...); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove image %s (record %q): %w", img.ID, rec.Name, err)
		}
	}
	s.opts.Log.Info("image removed", "id", img.ID, "tags", img.RepoTags)
	return nil
}
