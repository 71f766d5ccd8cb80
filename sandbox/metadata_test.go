package sandbox

import (
	"fmt"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// kubeletPod is a sandbox config as kubelet sends it for a pod with the
// longest names Kubernetes allows: every part of it must pass.
func kubeletPod() *runtime.PodSandboxConfig {
	name := strings.Repeat("a", 120) + "." + strings.Repeat("b", 132) // a 253-character pod name
	ns := strings.Repeat("n", 63)
	uid := "3f1c7c2e-6c4b-4df1-9a4e-0c5d1f2b9e7a"
	return &runtime.PodSandboxConfig{
		Metadata: &runtime.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid, Attempt: 3},
		Hostname: strings.Repeat("h", 63),
		Labels: map[string]string{
			"io.kubernetes.pod.name":      name,
			"io.kubernetes.pod.namespace": ns,
			"io.kubernetes.pod.uid":       uid,
			"app.kubernetes.io/name":      "web",
			"pod-template-hash":           "7d4b9c8f5d",
		},
		Annotations: map[string]string{
			"kubernetes.io/config.seen":   "2026-12-01T10:00:00.000000000Z",
			"kubernetes.io/config.source": "api",
			"big":                         strings.Repeat("x", MaxAnnotationsBytes-100),
		},
		DnsConfig: &runtime.DNSConfig{
			Servers:  []string{"10.96.0.10", "fe80::1%eth0"},
			Searches: []string{ns + ".svc.cluster.local", "svc.cluster.local", "cluster.local"},
			Options:  []string{"ndots:5", "timeout:2"},
		},
		LogDirectory: "/var/log/pods/" + ns + "_" + name + "_" + uid,
		Linux: &runtime.LinuxPodSandboxConfig{
			Sysctls: map[string]string{"net.ipv4.ip_local_port_range": "1024\t65000", "kernel.sem": "250 32000 32 128"},
		},
	}
}

func TestValidateAcceptsWhatKubeletSends(t *testing.T) {
	if err := validate(kubeletPod()); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRefusesBadMetadataAndFiles(t *testing.T) {
	manyLabels := map[string]string{}
	for i := range 4000 {
		manyLabels[fmt.Sprintf("example.com/label-%05d", i)] = strings.Repeat("v", 63)
	}
	for _, tc := range []struct {
		name, field string
		edit        func(*runtime.PodSandboxConfig)
	}{
		{"NUL in name", "config.metadata.name", func(c *runtime.PodSandboxConfig) { c.Metadata.Name = "a\x00b" }},
		{"NUL in namespace", "config.metadata.namespace", func(c *runtime.PodSandboxConfig) { c.Metadata.Namespace = "ns\x00" }},
		{"CNI separator in name", "config.metadata.name", func(c *runtime.PodSandboxConfig) { c.Metadata.Name = "a;K8S_POD_NAMESPACE=x" }},
		{"long uid", "config.metadata.uid", func(c *runtime.PodSandboxConfig) { c.Metadata.Uid = strings.Repeat("u", 254) }},
		{"label key", "config.labels", func(c *runtime.PodSandboxConfig) { c.Labels["bad key"] = "v" }},
		{"long label value", "config.labels", func(c *runtime.PodSandboxConfig) { c.Labels["app"] = strings.Repeat("v", 64) }},
		{"15 MiB label", "config.labels", func(c *runtime.PodSandboxConfig) { c.Labels["app"] = strings.Repeat("v", 15<<20) }},
		{"long pod name label", "config.labels", func(c *runtime.PodSandboxConfig) { c.Labels[podNameLabel] = strings.Repeat("p", 254) }},
		{"many labels", "config.labels", func(c *runtime.PodSandboxConfig) { c.Labels = manyLabels }},
		{"annotations", "config.annotations", func(c *runtime.PodSandboxConfig) { c.Annotations["more"] = strings.Repeat("x", 200) }},
		{"long hostname", "config.hostname", func(c *runtime.PodSandboxConfig) { c.Hostname = strings.Repeat("h", 65) }},
		{"newline in hostname", "config.hostname", func(c *runtime.PodSandboxConfig) { c.Hostname = "web\n10.0.0.1 evil" }},
		{"newline in server", "config.dns_config.servers", func(c *runtime.PodSandboxConfig) { c.DnsConfig.Servers = []string{"1.1.1.1\nnameserver 6.6.6.6"} }},
		{"NUL in search", "config.dns_config.searches", func(c *runtime.PodSandboxConfig) { c.DnsConfig.Searches = []string{"a\x00b"} }},
		{"space in option", "config.dns_config.options", func(c *runtime.PodSandboxConfig) { c.DnsConfig.Options = []string{"ndots:5 rotate"} }},
		{"newline in sysctl", "kernel.sem", func(c *runtime.PodSandboxConfig) { c.Linux.Sysctls["kernel.sem"] = "1\n2" }},
		{"NUL in sysctl", "net.ipv4.ip_local_port_range", func(c *runtime.PodSandboxConfig) {
			c.Linux.Sysctls["net.ipv4.ip_local_port_range"] = "1024\x0065000"
		}},
		{"long sysctl", "kernel.sem", func(c *runtime.PodSandboxConfig) { c.Linux.Sysctls["kernel.sem"] = strings.Repeat("1", 5000) }},
		{"whole config", "config is", func(c *runtime.PodSandboxConfig) {
			c.PortMappings = make([]*runtime.PortMapping, 100000)
			for i := range c.PortMappings {
				c.PortMappings[i] = &runtime.PortMapping{ContainerPort: 80, HostIp: "127.0.0.1"}
			}
		}},
	} {
		c := kubeletPod()
		tc.edit(c)
		err := validate(c)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v; want InvalidArgument naming %q", tc.name, err, tc.field)
		}
		if err != nil && len(err.Error()) > 1024 {
			t.Errorf("%s: a %d-byte message", tc.name, len(err.Error()))
		}
	}
}
