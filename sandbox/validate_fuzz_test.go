package sandbox

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// FuzzValidate feeds arbitrary PodSandboxConfigs (as protobuf bytes) to the
// validation that guards every RunPodSandbox side effect: it must never
// panic, and what it accepts must be safe to act on.
func FuzzValidate(f *testing.F) {
	for _, cfg := range []*runtime.PodSandboxConfig{
		{Metadata: &runtime.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}},
		{Metadata: &runtime.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}, Linux: &runtime.LinuxPodSandboxConfig{
			Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"},
			SecurityContext: &runtime.LinuxSandboxSecurityContext{NamespaceOptions: &runtime.NamespaceOption{
				Network: runtime.NamespaceMode_NODE,
				UsernsOptions: &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD,
					Uids: []*runtime.IDMapping{{ContainerId: 0, HostId: 100000, Length: 65536}},
					Gids: []*runtime.IDMapping{{ContainerId: 0, HostId: 100000, Length: 65536}}},
			}},
		}},
		{Metadata: &runtime.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"}, LogDirectory: "relative/../x",
			PortMappings: []*runtime.PortMapping{{ContainerPort: 80, HostPort: 70000}}},
	} {
		b, _ := proto.Marshal(cfg)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := &runtime.PodSandboxConfig{}
		if proto.Unmarshal(data, cfg) != nil {
			return
		}
		if validate(cfg) != nil {
			return
		}
		md := cfg.GetMetadata()
		if md.GetName() == "" || md.GetNamespace() == "" || md.GetUid() == "" {
			t.Fatalf("accepted a pod without full metadata: %v", md)
		}
		hostNet := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtime.NamespaceMode_NODE
		for k := range cfg.GetLinux().GetSysctls() {
			k = strings.ReplaceAll(k, "/", ".")
			if !strings.HasPrefix(k, "net.") && !strings.HasPrefix(k, "fs.mqueue.") && !ipcSysctls[k] {
				t.Fatalf("accepted the host sysctl %q", k)
			}
			if hostNet && strings.HasPrefix(k, "net.") {
				t.Fatalf("accepted %q for a host-network pod", k)
			}
		}
		if d := cfg.GetLogDirectory(); d != "" && !strings.HasPrefix(d, "/") {
			t.Fatalf("accepted a relative log directory %q", d)
		}
	})
}
