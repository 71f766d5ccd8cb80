package image

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestParseRefNormalizes(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                               "docker.io/library/busybox:latest",
		"busybox:1.36":                          "docker.io/library/busybox:1.36",
		"library/busybox":                       "docker.io/library/busybox:latest",
		"quay.io/a/b":                           "quay.io/a/b:latest",
		"127.0.0.1:5000/x:1":                    "127.0.0.1:5000/x:1",
		"x:1@sha256:" + strings.Repeat("a", 64): "docker.io/library/x@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := ParseRef(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseRef(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "library/UPPER", "a b", "x@sha256:short"} {
		if _, err := ParseRef(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseRef(%q) err = %v, want InvalidArgument", bad, err)
		}
	}
}

func TestIDForms(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	if id, ok := asID("sha256:" + hex); !ok || id != "sha256:"+hex {
		t.Errorf("full ID: %q %v", id, ok)
	}
	if id, ok := asID(hex); !ok || id != "sha256:"+hex {
		t.Errorf("bare ID: %q %v", id, ok)
	}
	if _, ok := asID("busybox"); ok {
		t.Error("a name is not an ID")
	}
	if p, ok := idPrefix("abab12"); !ok || p != "sha256:abab12" {
		t.Errorf("prefix: %q %v", p, ok)
	}
	if _, ok := idPrefix("busybox"); ok {
		t.Error("a name is not an ID prefix")
	}
}

func TestClassify(t *testing.T) {
	d := "sha256:" + strings.Repeat("c", 64)
	for name, want := range map[string]recordKind{
		d:                          kindID,
		"docker.io/library/x:1":    kindTag,
		"docker.io/library/x@" + d: kindDigest,
		"docker.io/library/x":      kindOther,
		"not a reference!":         kindOther,
	} {
		if got, _ := classify(name); got != want {
			t.Errorf("classify(%q) = %v, want %v", name, got, want)
		}
	}
}
