package spec

import (
	"context"
	"fmt"
	"strconv"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// SandboxInput is what a pause container's spec is built from.
type SandboxInput struct {
	ID     string
	Config *runtime.PodSandboxConfig
	// Image is the sandbox image's config (entrypoint, env, user).
	Image ocispec.ImageConfig
	// NetNSPath is the pod's network namespace; empty for host network,
	// unless NewNetNS asks the pause container to create one.
	NetNSPath string
	NewNetNS  bool
	// UserNS, if set, puts the pod in a user namespace of its own.
	UserNS      *UserNS
	CgroupsPath string
	OOMScoreAdj int
	// ShmPath is the pod's /dev/shm (a tmpfs cricket mounted); empty to
	// share the host's /dev/shm (host IPC).
	ShmPath string
}

// Sandbox returns the spec options of a pod's pause container: it creates
// the pod's IPC, UTS and PID namespaces (unless they are the host's) and
// joins the network namespace cricket created.
func Sandbox(in SandboxInput) ([]oci.SpecOpts, error) {
	cfg := in.Config
	sc := cfg.GetLinux().GetSecurityContext()
	nso := sc.GetNamespaceOptions()
	hostNet := nso.GetNetwork() == runtime.NamespaceMode_NODE
	netNS := withNamespace(specs.NetworkNamespace, in.NetNSPath, hostNet)
	if in.NewNetNS {
		netNS = oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	hostIPC := nso.GetIpc() == runtime.NamespaceMode_NODE
	hostPID := nso.GetPid() == runtime.NamespaceMode_NODE

	args := imageArgs(in.Image.Entrypoint, in.Image.Cmd, nil, nil)
	if len(args) == 0 {
		return nil, fmt.Errorf("sandbox image has neither entrypoint nor cmd")
	}
	cwd := in.Image.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	opts := []oci.SpecOpts{
		oci.WithoutRunMount,
		withoutRlimits,
		oci.WithProcessArgs(args...),
		oci.WithEnv(in.Image.Env),
		oci.WithProcessCwd(cwd),
		oci.WithNoNewPrivileges,
		netNS,
		withNamespace(specs.IPCNamespace, "", hostIPC),
		withNamespace(specs.PIDNamespace, "", hostPID),
		// The pod's hostname lives in its UTS namespace; a host-network
		// pod shares the host's, as kubelet expects.
		withNamespace(specs.UTSNamespace, "", hostNet),
		oci.WithCgroup(in.CgroupsPath),
		withOOMScoreAdj(in.OOMScoreAdj),
		withSysctls(cfg.GetLinux().GetSysctls()),
		withAnnotations(map[string]string{
			AnnotationShimGroup:     in.ID,
			AnnotationSandboxID:     in.ID,
			AnnotationContainerType: ContainerTypeSandbox,
			AnnotationSandboxName:   cfg.GetMetadata().GetName(),
			AnnotationSandboxNS:     cfg.GetMetadata().GetNamespace(),
			AnnotationSandboxUID:    cfg.GetMetadata().GetUid(),
		}),
	}
	if in.UserNS != nil {
		opts = append(opts, withUserNS(in.UserNS, ""))
	}
	if !hostNet && cfg.GetHostname() != "" {
		opts = append(opts, oci.WithHostname(cfg.GetHostname()))
	}
	if in.ShmPath != "" {
		opts = append(opts, withMountReplaced(specs.Mount{
			Destination: "/dev/shm", Type: "bind", Source: in.ShmPath,
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		}))
	} else if hostIPC {
		opts = append(opts, withMountReplaced(specs.Mount{
			Destination: "/dev/shm", Type: "bind", Source: "/dev/shm",
			Options: []string{"rbind", "rw", "nosuid", "nodev", "noexec"},
		}))
	}
	// User: the security context's, else the image's.
	switch {
	case sc.GetRunAsUser() != nil:
		uid := uint32(sc.GetRunAsUser().GetValue())
		opts = append(opts, oci.WithUserID(uid))
		if sc.GetRunAsGroup() != nil {
			opts = append(opts, withGID(uint32(sc.GetRunAsGroup().GetValue())))
		}
	case in.Image.User != "":
		opts = append(opts, oci.WithUser(in.Image.User))
	}
	if len(sc.GetSupplementalGroups()) > 0 {
		gids := make([]uint32, 0, len(sc.GetSupplementalGroups()))
		for _, g := range sc.GetSupplementalGroups() {
			gids = append(gids, uint32(g))
		}
		opts = append(opts, oci.WithAppendAdditionalGroups(toStrings(gids)...))
	}
	// The pause process writes nothing: its rootfs is read-only whatever
	// readonly_rootfs says (as in containerd's CRI plugin).
	opts = append(opts, oci.WithRootFSReadonly())
	if sc.GetPrivileged() {
		// The first sysfs mount in a network namespace decides whether
		// its superblock is writable for every later mount: the pause
		// container's must be writable for privileged containers' to be.
		opts = append(opts, oci.WithWriteableSysfs)
	}
	// No profile means unconfined (kubelet sends one when the pod asks);
	// a default profile costs runc a filter compilation per pod start.
	sec, err := seccompOpts(sc.GetSeccomp(), sc.GetPrivileged())
	if err != nil {
		return nil, err
	}
	opts = append(opts, sec)
	return opts, nil
}

func withOOMScoreAdj(v int) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.OOMScoreAdj = &v
		return nil
	}
}

func withGID(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.User.GID = gid
		return nil
	}
}

func toStrings(ids []uint32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatUint(uint64(id), 10)
	}
	return out
}
