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
