package container

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// kubeletContainer is a container config as kubelet sends it: it must pass.
func kubeletContainer() *runtime.ContainerConfig {
	pod := strings.Repeat("p", 253)
	return &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: strings.Repeat("c", 63), Attempt: 2},
		Image:    &runtime.ImageSpec{Image: "registry.example/app@sha256:" + strings.Repeat("0", 64)},
		Command:  []string{"/app"},
		Envs:     []*runtime.KeyValue{{Key: "KUBERNETES_SERVICE_HOST", Value: []byte("10.96.0.1")}, {Key: "CERT", Value: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")}},
		Labels: map[string]string{
			"io.kubernetes.container.name": strings.Repeat("c", 63),
			"io.kubernetes.pod.name":       pod,
			"io.kubernetes.pod.namespace":  "default",
			"io.kubernetes.pod.uid":        "3f1c7c2e-6c4b-4df1-9a4e-0c5d1f2b9e7a",
		},
		Annotations: map[string]string{
			"io.kubernetes.container.hash":                   "2b2c1a8e",
			"io.kubernetes.container.restartCount":           "2",
			"io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
			"io.kubernetes.container.ports":                  `[{"name":"http","containerPort":8080,"protocol":"TCP"}]`,
		},
		LogPath: strings.Repeat("c", 63) + "/2.log",
		Linux: &runtime.LinuxContainerConfig{
			Resources: &runtime.LinuxContainerResources{CpuShares: 102, CpusetCpus: "0", CpusetMems: "0"},
		},
	}
}

func TestValidateAcceptsWhatKubeletSends(t *testing.T) {
	if err := validate(kubeletContainer()); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		edit        func(*runtime.ContainerConfig)
	}{
		{"long log path", "log_path", func(c *runtime.ContainerConfig) { c.LogPath = strings.Repeat("l", 256) }},
		{"NUL in log path", "log_path", func(c *runtime.ContainerConfig) { c.LogPath = "c/0\x00.log" }},
		{"dot dot inside log path", "log_path", func(c *runtime.ContainerConfig) { c.LogPath = "a/../b.log" }},
		{"log path is the directory", "log_path", func(c *runtime.ContainerConfig) { c.LogPath = "./" }},
		{"empty env name", "config.envs[2]", func(c *runtime.ContainerConfig) { c.Envs = append(c.Envs, &runtime.KeyValue{Value: []byte("x")}) }},
		{"= in env name", "config.envs[2]", func(c *runtime.ContainerConfig) { c.Envs = append(c.Envs, &runtime.KeyValue{Key: "A=B"}) }},
		{"NUL in env value", "config.envs[2]", func(c *runtime.ContainerConfig) {
			c.Envs = append(c.Envs, &runtime.KeyValue{Key: "A", Value: []byte("a\x00b")})
		}},
		{"env var over MAX_ARG_STRLEN", "config.envs[2]", func(c *runtime.ContainerConfig) {
			c.Envs = append(c.Envs, &runtime.KeyValue{Key: "A", Value: make([]byte, 128<<10)})
		}},
		{"env in total", "config.envs", func(c *runtime.ContainerConfig) {
			for range 20 {
				c.Envs = append(c.Envs, &runtime.KeyValue{Key: "A", Value: []byte(strings.Repeat("x", 64<<10))})
			}
		}},
		{"container name", "config.metadata.name", func(c *runtime.ContainerConfig) { c.Metadata.Name = "a\nb" }},
		{"annotations", "config.annotations", func(c *runtime.ContainerConfig) { c.Annotations["big"] = strings.Repeat("x", 256<<10) }},
		{"image annotations", "config.image.annotations", func(c *runtime.ContainerConfig) {
			c.Image.Annotations = map[string]string{"big": strings.Repeat("x", 256<<10)}
		}},
		{"labels", "config.labels", func(c *runtime.ContainerConfig) { c.Labels["a"] = strings.Repeat("x", 15<<20) }},
		{"malformed cpuset", "cpuset_cpus", func(c *runtime.ContainerConfig) { c.Linux.Resources.CpusetCpus = "0-" }},
		{"cpuset out of host", "cpuset_cpus", func(c *runtime.ContainerConfig) { c.Linux.Resources.CpusetCpus = "0,4095" }},
		{"mems out of host", "cpuset_mems", func(c *runtime.ContainerConfig) { c.Linux.Resources.CpusetMems = "0-63" }},
		{"missing seccomp profile", "seccomp", func(c *runtime.ContainerConfig) {
			c.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Seccomp: &runtime.SecurityProfile{
				ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: "/nonexistent/profile.json"}}
		}},
		{"image sub path out of the image", "image_sub_path", func(c *runtime.ContainerConfig) {
			c.Mounts = []*runtime.Mount{{ContainerPath: "/x", Image: &runtime.ImageSpec{Image: "data"}, ImageSubPath: "a/../../b"}}
		}},
		{"whole config", "config is", func(c *runtime.ContainerConfig) { c.Args = []string{strings.Repeat("a", 3<<20)} }},
	} {
		c := kubeletContainer()
		tc.edit(c)
		err := validate(c)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v; want InvalidArgument naming %q", tc.name, err, tc.field)
		}
		if err != nil && len(err.Error()) > 1024 {
			t.Errorf("%s: a %d-byte message", tc.name, len(err.Error()))
		}
	}
	ok := kubeletContainer()
	ok.Mounts = []*runtime.Mount{{ContainerPath: "/x", Image: &runtime.ImageSpec{Image: "data"}, ImageSubPath: "..data/certs"}}
	if err := validate(ok); err != nil {
		t.Errorf("image_sub_path ..data/certs: %v", err)
	}
}
