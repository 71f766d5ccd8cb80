package sandbox

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestContainerdLabels(t *testing.T) {
	got := ContainerdLabels(KindSandbox, "abc", map[string]string{
		"io.kubernetes.pod.name": "web", "app": "web",
		// Neither a CRI client nor an image may set what containerd or
		// cricket interpret.
		LabelKind: KindContainer, LabelSandboxID: "other", "io.cri-containerd.kind": "container",
		"containerd.io/gc.ref.content": "sha256:x",
	})
	want := map[string]string{
		"io.kubernetes.pod.name": "web", "app": "web",
		LabelKind: KindSandbox, LabelSandboxID: "abc", "io.cri-containerd.kind": KindSandbox,
	}
	if len(got) != len(want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
	if err := ValidateLabels("config.labels", map[string]string{"k": strings.Repeat("v", 5000)}); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "config.labels") {
		t.Errorf("a 5000-byte label: %v", err)
	}
}
