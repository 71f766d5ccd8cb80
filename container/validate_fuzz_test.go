package container

import (
	"context"
	"path"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/spec"
)

// FuzzValidateAndSpec feeds arbitrary ContainerConfigs to the validation
// and then to spec generation: neither may panic, accepted log paths stay
// inside the log directory, and a generated spec keeps the invariants the
// runtime relies on.
func FuzzValidateAndSpec(f *testing.F) {
	for _, cfg := range []*runtime.ContainerConfig{
		{Metadata: &runtime.ContainerMetadata{Name: "c"}, Image: &runtime.ImageSpec{Image: "busybox"}, Command: []string{"sh"}},
		{Metadata: &runtime.ContainerMetadata{Name: "c"}, Image: &runtime.ImageSpec{Image: "busybox"}, LogPath: "../../etc/x",
			Mounts: []*runtime.Mount{{HostPath: "/tmp", ContainerPath: "/m", RecursiveReadOnly: true, Propagation: runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL}},
			Linux: &runtime.LinuxContainerConfig{
				Resources: &runtime.LinuxContainerResources{CpuPeriod: 5, MemoryLimitInBytes: -1, OomScoreAdj: -2000},
				SecurityContext: &runtime.LinuxContainerSecurityContext{
					Capabilities: &runtime.Capability{AddCapabilities: []string{"ALL", "bogus"}, DropCapabilities: []string{"CHOWN"}},
					RunAsGroup:   &runtime.Int64Value{Value: 5},
					Seccomp:      &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: "relative.json"},
				},
			}},
		{Metadata: &runtime.ContainerMetadata{Name: "c"}, Image: &runtime.ImageSpec{Image: "busybox"},
			Devices: []*runtime.Device{{HostPath: "/dev/null", ContainerPath: "/dev/n", Permissions: "rwx"}},
			Envs:    []*runtime.KeyValue{{Key: "A", Value: []byte("1")}}, Tty: true, StopSignal: runtime.Signal_SIGNAL_SIGUSR1},
	} {
		b, _ := proto.Marshal(cfg)
		f.Add(b)
	}
	oom := spec.NewOOMScore(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := &runtime.ContainerConfig{}
		if proto.Unmarshal(data, cfg) != nil || validate(cfg) != nil {
			return
		}
		if lp := cfg.GetLogPath(); lp != "" {
			if joined := path.Join("/logs", lp); !strings.HasPrefix(joined, "/logs/") {
				t.Fatalf("accepted log path %q escapes to %q", lp, joined)
			}
		}
		opts, err := spec.Container(spec.ContainerInput{
			ID: "c1", SandboxID: "s1", Config: cfg, Sandbox: &runtime.PodSandboxConfig{},
			Image: ocispec.ImageConfig{Cmd: []string{"sh"}}, CgroupsPath: "/cricket/c1", OOM: oom,
			Network: spec.Namespace{Path: "/proc/1/ns/net"}, IPC: spec.Namespace{Path: "/proc/1/ns/ipc"},
			UTS: spec.Namespace{Path: "/proc/1/ns/uts"}, PID: spec.Namespace{Path: "/proc/1/ns/pid"},
		})
		if err != nil {
			return
		}
		ctx := namespaces.WithNamespace(context.Background(), "fuzz")
		s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c1"}, opts...)
		if err != nil {
			return // e.g. a user name needing the image's /etc/passwd
		}
		if s.Linux.CgroupsPath != "/cricket/c1" || s.Annotations[spec.AnnotationShimGroup] != "s1" {
			t.Fatalf("spec lost its cgroup or shim group: %q %v", s.Linux.CgroupsPath, s.Annotations)
		}
		if a := s.Process.OOMScoreAdj; a == nil || *a < -1000 || *a > 1000 {
			t.Fatalf("oom_score_adj %v out of range", a)
		}
		if !cfg.GetLinux().GetSecurityContext().GetPrivileged() && s.Linux.Seccomp == nil &&
			cfg.GetLinux().GetSecurityContext().GetSeccomp().GetProfileType() == runtime.SecurityProfile_RuntimeDefault &&
			cfg.GetLinux().GetSecurityContext().GetSeccomp() != nil {
			t.Fatal("RuntimeDefault seccomp without a profile")
		}
	})
}
