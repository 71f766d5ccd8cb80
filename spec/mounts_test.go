package spec

import (
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestValidateIDMappedMount(t *testing.T) {
	m := []*runtime.IDMapping{{ContainerId: 0, HostId: 100000, Length: 65536}}
	ok := &runtime.Mount{ContainerPath: "/v", HostPath: "/tmp", UidMappings: m, GidMappings: m}
	if err := ValidateMount(ok); err != nil {
		t.Errorf("a kubelet-style idmapped mount: %v", err)
	}
	for name, bad := range map[string]*runtime.Mount{
		"uids only":    {ContainerPath: "/v", HostPath: "/tmp", UidMappings: m},
		"empty":        {ContainerPath: "/v", HostPath: "/tmp", UidMappings: []*runtime.IDMapping{{HostId: 1}}, GidMappings: m},
		"out of range": {ContainerPath: "/v", HostPath: "/tmp", UidMappings: m, GidMappings: []*runtime.IDMapping{{HostId: 1<<31 + 1, Length: 1 << 31}}},
		"image":        {ContainerPath: "/v", Image: &runtime.ImageSpec{Image: "x"}, UidMappings: m, GidMappings: m},
	} {
		if err := ValidateMount(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}
