package spec

import (
	"context"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func sandboxSpec(t *testing.T, sc *runtime.LinuxSandboxSecurityContext) *oci.Spec {
	t.Helper()
	opts, err := Sandbox(SandboxInput{
		ID:          "sb",
		Config:      &runtime.PodSandboxConfig{Metadata: &runtime.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}, Linux: &runtime.LinuxPodSandboxConfig{SecurityContext: sc}},
		Image:       ocispec.ImageConfig{Entrypoint: []string{"/pause"}},
		NetNSPath:   "/run/netns/x",
		CgroupsPath: "/pods/sb",
		ShmPath:     "/run/shm/sb",
	})
	if err != nil {
		t.Fatal(err)
	}
	var s oci.Spec
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	for _, o := range append([]oci.SpecOpts{oci.WithDefaultSpec()}, opts...) {
		if err := o(ctx, nil, &containers.Container{ID: "sb"}, &s); err != nil {
			t.Fatal(err)
		}
	}
	return &s
}

func TestSandboxSeccompAndReadonlyRoot(t *testing.T) {
	// kubelet leaves the profile out when the pod asks for none: the pause
	// process then runs unconfined (a default profile costs runc a filter
	// compilation on every pod start).
	if s := sandboxSpec(t, nil); s.Linux.Seccomp != nil {
		t.Errorf("no profile asked, got seccomp %v", s.Linux.Seccomp.DefaultAction)
	}
	def := &runtime.LinuxSandboxSecurityContext{Seccomp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}}
	if s := sandboxSpec(t, def); s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) == 0 {
		t.Error("runtime/default asked, got no seccomp profile")
	}
	if s := sandboxSpec(t, nil); s.Root == nil || !s.Root.Readonly {
		t.Error("the pause container's rootfs is writable")
	}
}
