package testrig

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/cricket-cri/cricket/internal/testimages"
)

// ImageSpec describes a test image (see testimages.Spec).
type ImageSpec = testimages.Spec

// BuildImage builds a linux/amd64 image from spec.
func BuildImage(tb testing.TB, spec ImageSpec) v1.Image {
	tb.Helper()
	img, err := testimages.Build(spec)
	if err != nil {
		tb.Fatalf("build image: %v", err)
	}
	return img
}

// BuildIndex builds a multi-platform image index with a linux/amd64 image
// from spec and a linux/arm64 variant (which cricket must not pick here).
func BuildIndex(tb testing.TB, spec ImageSpec) (v1.ImageIndex, v1.Image) {
	tb.Helper()
	amd, err := testimages.BuildArch(spec, "amd64")
	if err != nil {
		tb.Fatal(err)
	}
	armSpec := spec
	armSpec.Labels = map[string]string{"arch": "arm64"}
	arm, err := testimages.BuildArch(armSpec, "arm64")
	if err != nil {
		tb.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	return idx, amd
}

// PauseImage is the test sandbox image (see testimages.Pause).
func PauseImage(tb testing.TB) v1.Image {
	tb.Helper()
	img, err := testimages.Pause()
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// DataImage builds an image of the busybox layer and one layer of
// incompressible data per size (see testimages.DataImage); seeds tell
// layers apart.
func DataImage(tb testing.TB, seed uint64, sizes ...int64) v1.Image {
	tb.Helper()
	img, err := testimages.DataImage(seed, sizes...)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// LayerDigests returns img's layer digests, bottom first.
func LayerDigests(tb testing.TB, img v1.Image) []string {
	tb.Helper()
	layers, err := img.Layers()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, d.String())
	}
	return out
}
