package image

import (
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is one image as the CRI sees it: all containerd image records that
// resolve to the same config digest, which is the image's ID.
type Image struct {
	ID          string   // "sha256:<config digest>"
	RepoTags    []string // sorted, normalized (docker.io/library/busybox:latest)
	RepoDigests []string // sorted, repo@sha256:<manifest or index digest>
	// Size is the content size of the image for this platform: manifest,
	// config and compressed layers.
	Size   uint64
	Pinned bool
	// Config is the image's OCI config (entrypoint, env, user, volumes...).
	Config ocispec.Image
	// ConfigDescriptor locates the config blob in containerd's content store.
	ConfigDescriptor ocispec.Descriptor
	// ChainID names the committed snapshot of the image's top layer.
	ChainID string
	// Target is the descriptor the records point at (index or manifest).
	Target ocispec.Descriptor
	// records are the containerd image records that make up this image.
	records []images.Image
}

// User splits the image config's User ("uid", "name", "uid:gid",
// "name:group") into a numeric uid or a username, as the CRI reports them.
func (i *Image) User() (uid *int64, username string) {
	user, _, _ := strings.Cut(i.Config.Config.User, ":")
	if user == "" {
		return nil, ""
	}
	if n, err := strconv.ParseInt(user, 10, 64); err == nil {
		return &n, ""
	}
	return nil, user
}

// RepoTagOrID names the image for records that want one name: its first
// tag, else its first digest, else its ID.
func (i *Image) RepoTagOrID() string {
	switch {
	case len(i.RepoTags) > 0:
		return i.RepoTags[0]
	case len(i.RepoDigests) > 0:
		return i.RepoDigests[0]
	}
	return i.ID
}
