package cri

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/image"
)

// PullImage pulls an image with the request's credentials and returns its
// ID (the config digest).
func (s *Server) PullImage(ctx context.Context, r *runtime.PullImageRequest) (*runtime.PullImageResponse, error) {
	ref := r.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image.image must name an image")
	}
	var auth *image.Auth
	if a := r.GetAuth(); a != nil {
		auth = &image.Auth{
			Username:      a.Username,
			Password:      a.Password,
			Auth:          a.Auth,
			ServerAddress: a.ServerAddress,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		}
	}
	id, err := s.Images.Pull(ctx, ref, auth)
	if err != nil {
		return nil, err
	}
	return &runtime.PullImageResponse{ImageRef: id}, nil
}

// ImageStatus returns the image a reference or ID names, or no image (not an
// error) when it is absent.
func (s *Server) ImageStatus(ctx context.Context, r *runtime.ImageStatusRequest) (*runtime.ImageStatusResponse, error) {
	ref := r.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image.image must name an image")
	}
	img, err := s.Images.Get(ctx, ref)
	if errdefs.IsNotFound(err) {
		return &runtime.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &runtime.ImageStatusResponse{Image: toCRIImage(img)}
	if r.GetVerbose() {
		resp.Info = imageInfo(img)
	}
	return resp, nil
}

// ListImages lists images, each once with all its tags and digests.
func (s *Server) ListImages(ctx context.Context, r *runtime.ListImagesRequest) (*runtime.ListImagesResponse, error) {
	var imgs []*image.Image
	if ref := r.GetFilter().GetImage().GetImage(); ref != "" {
		img, err := s.Images.Get(ctx, ref)
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, err
		}
		if img != nil {
			imgs = append(imgs, img)
		}
	} else {
		var err error
		if imgs, err = s.Images.List(ctx); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(imgs, func(a, b *image.Image) int { return cmp.Compare(a.ID, b.ID) })
	out := make([]*runtime.Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, toCRIImage(img))
	}
	return &runtime.ListImagesResponse{Images: out}, nil
}

// RemoveImage removes an image and all its tags; an absent image is fine.
func (s *Server) RemoveImage(ctx context.Context, r *runtime.RemoveImageRequest) (*runtime.RemoveImageResponse, error) {
	ref := r.GetImage().GetImage()
	if ref == "" {
		return nil, invalid("image.image must name an image")
	}
	if err := s.Images.Remove(ctx, ref); err != nil {
		return nil, err
	}
	return &runtime.RemoveImageResponse{}, nil
}

// ImageFsInfo reports the snapshotter filesystem's usage: by images and
// container layers together (image_filesystems), and by containers'
// writable layers alone (container_filesystems, as CRI-O reports them).
//
// Both live under the snapshotter's root, so both entries name it as their
// mountpoint: kubelet takes identical mountpoints for one filesystem that
// is not split and then reads the image entry for both, which is why the
// image entry counts the writable layers too.
func (s *Server) ImageFsInfo(ctx context.Context, _ *runtime.ImageFsInfoRequest) (*runtime.ImageFsInfoResponse, error) {
	u, err := s.Images.FsInfo(ctx)
	if err != nil {
		return nil, err
	}
	fs := func(used image.Usage) *runtime.FilesystemUsage {
		return &runtime.FilesystemUsage{
			Timestamp:  u.Timestamp.UnixNano(),
			FsId:       &runtime.FilesystemIdentifier{Mountpoint: u.Mountpoint},
			UsedBytes:  &runtime.UInt64Value{Value: used.Bytes},
			InodesUsed: &runtime.UInt64Value{Value: used.Inodes},
		}
	}
	return &runtime.ImageFsInfoResponse{
		ImageFilesystems:     []*runtime.FilesystemUsage{fs(u.All)},
		ContainerFilesystems: []*runtime.FilesystemUsage{fs(u.Writable)},
	}, nil
}

func toCRIImage(img *image.Image) *runtime.Image {
	out := &runtime.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Pinned:      img.Pinned,
	}
	uid, username := img.User()
	if uid != nil {
		out.Uid = &runtime.Int64Value{Value: *uid}
	}
	out.Username = username
	return out
}

// imageInfo is the verbose ImageStatus payload: the OCI image config and
// where the image lives in containerd.
func imageInfo(img *image.Image) map[string]string {
	b, err := json.Marshal(struct {
		ImageSpec any    `json:"imageSpec"`
		ChainID   string `json:"chainID"`
		Target    any    `json:"target"`
	}{img.Config, img.ChainID, img.Target})
	if err != nil {
		return nil
	}
	return map[string]string{"info": string(b)}
}
