package spec

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Namespace is one namespace of a container: join Path, or share the
// host's when Host is set, or (neither) get a new one.
type Namespace struct {
	Path string
	Host bool
}

// ContainerInput is what a container's spec is built from.
type ContainerInput struct {
	ID        string
	SandboxID string
	Config    *runtime.ContainerConfig
	// Sandbox is the pod's config: its security context bounds the
	// container's (see CheckPodAllows).
	Sandbox   *runtime.PodSandboxConfig
	Image     ocispec.ImageConfig
	ImageName string
	// ImageChainID names the image's layers; with Users, it keys the
	// cache of what the image's /etc/passwd and /etc/group resolve.
	ImageChainID string
	Users        *UserCache

	Network, IPC, UTS, PID Namespace
	// UserNS, with UserNSPath, joins the pod's user namespace.
	UserNS     *UserNS
	UserNSPath string

	CgroupsPath string
	// The pod's files, mounted unless the config mounts something there.
	HostsPath, ResolvConfPath, HostnamePath, ShmPath string
	// Mounts are the config's mounts with resolved sources.
	Mounts []Mount
	// Volumes are image volumes backed by host directories.
	Volumes []specs.Mount
	OOM     *OOMScore
	// CDI are the CDI devices the config asks for (see CDI.Resolve).
	CDI *CDIDevices
}

// Container returns the spec options of a pod's container.
func Container(in ContainerInput) ([]oci.SpecOpts, error) {
	cfg := in.Config
	sc := cfg.GetLinux().GetSecurityContext()
	args := imageArgs(in.Image.Entrypoint, in.Image.Cmd, cfg.GetCommand(), cfg.GetArgs())
	if len(args) == 0 {
		return nil, fmt.Errorf("container %q has no command: the image has neither entrypoint nor cmd and the config gives none: %w",
			cfg.GetMetadata().GetName(), errdefs.ErrInvalidArgument)
	}
	cwd := cfg.GetWorkingDir()
	if cwd == "" {
		cwd = in.Image.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	res, err := Resources(cfg.GetLinux().GetResources())
	if err != nil {
		return nil, err
	}
	opts := []oci.SpecOpts{
		oci.WithoutRunMount,
		withoutRlimits,
		oci.WithProcessArgs(args...),
		oci.WithEnv(mergeEnv(in.Image.Env, cfg.GetEnvs())),
		oci.WithProcessCwd(cwd),
		withTerminal(cfg.GetTty()),
		withNamespace(specs.NetworkNamespace, in.Network.Path, in.Network.Host),
		withNamespace(specs.IPCNamespace, in.IPC.Path, in.IPC.Host),
		withNamespace(specs.UTSNamespace, in.UTS.Path, in.UTS.Host),
		withNamespace(specs.PIDNamespace, in.PID.Path, in.PID.Host),
		oci.WithCgroup(in.CgroupsPath),
		withResources(res),
		withOOMScoreAdj(in.OOM.Adjust(int(cfg.GetLinux().GetResources().GetOomScoreAdj()))),
		withAnnotations(map[string]string{
			AnnotationShimGroup:     in.SandboxID,
			AnnotationSandboxID:     in.SandboxID,
			AnnotationContainerType: ContainerTypeContainer,
			AnnotationContainerName: cfg.GetMetadata().GetName(),
			AnnotationSandboxName:   in.Sandbox.GetMetadata().GetName(),
			AnnotationSandboxNS:     in.Sandbox.GetMetadata().GetNamespace(),
			AnnotationSandboxUID:    in.Sandbox.GetMetadata().GetUid(),
			AnnotationImageName:     in.ImageName,
		}),
	}
	if in.UserNS != nil {
		opts = append(opts, withUserNS(in.UserNS, in.UserNSPath))
	}
	sec, err := securityOpts(sc, in.Sandbox.GetLinux().GetSecurityContext(), in.Image.User, in.Users, in.ImageChainID)
	if err != nil {
		return nil, err
	}
	opts = append(opts, sec...)
	devs, err := deviceOpts(cfg.GetDevices())
	if err != nil {
		return nil, err
	}
	opts = append(opts, devs...)
	opts = append(opts, withMounts(in), withCgroupNamespace(sc.GetPrivileged()))
	if in.CDI != nil {
		// After the user (device nodes are owned by it) and the mounts
		// (a device's mount replaces one at the same path).
		opts = append(opts, withCDI(in.CDI))
	}
	return opts, nil
}

// withMounts adds the pod files, the config's mounts and image volumes.
func withMounts(in ContainerInput) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		taken := map[string]bool{}
		var added []specs.Mount
		for _, m := range in.Mounts {
			added = append(added, bindMount(m))
			taken[path.Clean(m.CRI.GetContainerPath())] = true
		}
		ro := in.Config.GetLinux().GetSecurityContext().GetReadonlyRootfs()
		for dest, src := range map[string]string{"/etc/hosts": in.HostsPath, "/etc/resolv.conf": in.ResolvConfPath, "/etc/hostname": in.HostnamePath} {
			if src == "" || taken[dest] {
				continue
			}
			mode := "rw"
			if ro {
				mode = "ro"
			}
			added = append(added, specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"rbind", "rprivate", mode}})
		}
		if in.ShmPath != "" && !taken["/dev/shm"] {
			out := s.Mounts[:0]
			for _, m := range s.Mounts {
				if path.Clean(m.Destination) != "/dev/shm" {
					out = append(out, m)
				}
			}
			s.Mounts = out
			added = append(added, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: in.ShmPath, Options: []string{"rbind", "rprivate", "rw"}})
		}
		for _, v := range in.Volumes {
			if !taken[path.Clean(v.Destination)] {
				added = append(added, v)
			}
		}
		if !taken["/sys/fs/cgroup"] {
			added = append(added, cgroupMount(in.Config.GetLinux().GetSecurityContext().GetPrivileged()))
		}
		// A config mount over a default mount (e.g. /dev/shm, /sys)
		// replaces it.
		out := s.Mounts[:0]
		for _, m := range s.Mounts {
			if !taken[path.Clean(m.Destination)] {
				out = append(out, m)
			}
		}
		sortMounts(added)
		s.Mounts = append(out, added...)
		if p := rootfsPropagation(in.Mounts); p != "" {
			s.Linux.RootfsPropagation = p
		}
		return nil
	}
}

// deviceOpts maps host devices into the container.
func deviceOpts(devs []*runtime.Device) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	for _, d := range devs {
		if !path.IsAbs(d.GetHostPath()) || !path.IsAbs(d.GetContainerPath()) {
			return nil, fmt.Errorf("device %q -> %q: paths must be absolute: %w", d.GetHostPath(), d.GetContainerPath(), errdefs.ErrInvalidArgument)
		}
		perms := d.GetPermissions()
		if perms == "" {
			perms = "rwm"
		}
		if strings.Trim(perms, "rwm") != "" {
			return nil, fmt.Errorf("device %q: permissions %q: want a combination of r, w and m: %w", d.GetHostPath(), perms, errdefs.ErrInvalidArgument)
		}
		opts = append(opts, oci.WithDevices(d.GetHostPath(), d.GetContainerPath(), perms))
	}
	return opts, nil
}

func withTerminal(tty bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.Terminal = tty
		if tty {
			s.Process.Env = append(s.Process.Env, "TERM=xterm")
		}
		return nil
	}
}

// withResources sets cgroup limits, keeping the default device rules.
func withResources(r *specs.LinuxResources) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		devices := s.Linux.Resources.Devices
		*s.Linux.Resources = *r
		s.Linux.Resources.Devices = append(devices, r.Devices...)
		return nil
	}
}
