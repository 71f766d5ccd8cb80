package image

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

var hexID = regexp.MustCompile(`^[a-f0-9]{3,64}$`)

// ParseRef normalizes a user-given image reference the way kubelet and
// docker do: "busybox" is "docker.io/library/busybox:latest"; a reference
// with both tag and digest keeps only the digest. Malformed references are
// InvalidArgument errors.
func ParseRef(ref string) (reference.Named, error) {
	if ref == "" {
		return nil, fmt.Errorf("image reference is empty: %w", errdefs.ErrInvalidArgument)
	}
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q is malformed: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	return named, nil
}

// asID returns the image ID (config digest, "sha256:<hex>") that ref names
// when ref is a full ID, with or without its algorithm prefix.
func asID(ref string) (string, bool) {
	if d, err := digest.Parse(ref); err == nil {
		return d.String(), true
	}
	if len(ref) == 64 && hexID.MatchString(ref) {
		return "sha256:" + ref, true
	}
	return "", false
}

// idPrefix returns the hex prefix of an image ID that a short reference like
// "3f57d9401f8d" or "sha256:3f57" may stand for.
func idPrefix(ref string) (string, bool) {
	p := strings.TrimPrefix(ref, "sha256:")
	if !hexID.MatchString(p) {
		return "", false
	}
	return "sha256:" + p, true
}

// recordKind classifies a containerd image record name.
type recordKind int

const (
	kindOther  recordKind = iota // a name we do not recognize as a reference
	kindID                       // "sha256:<config digest>", the ID record
	kindTag                      // repo:tag
	kindDigest                   // repo@sha256:...
)

func classify(name string) (recordKind, reference.Named) {
	if _, err := digest.Parse(name); err == nil {
		return kindID, nil
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return kindOther, nil
	}
	if _, ok := named.(reference.Canonical); ok {
		return kindDigest, named
	}
	if _, ok := named.(reference.Tagged); ok {
		return kindTag, named
	}
	return kindOther, named
}
