// Package spec generates OCI runtime specs from CRI configs: the pause
// container of a sandbox and the containers of a pod. It builds on
// containerd's pkg/oci helpers; everything CRI-specific (namespace modes,
// kubelet's defaults, security context rules) is decided here, in one
// place, and is pure enough to be unit tested without containerd.
package spec

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Annotations cricket puts on every OCI spec. The shim groups containers
// whose specs carry the same group (sandbox) ID into one shim process.
const (
	AnnotationShimGroup     = "io.containerd.runc.v2.group"
	AnnotationSandboxID     = "io.kubernetes.cri.sandbox-id"
	AnnotationContainerType = "io.kubernetes.cri.container-type"
	AnnotationSandboxName   = "io.kubernetes.cri.sandbox-name"
	AnnotationSandboxNS     = "io.kubernetes.cri.sandbox-namespace"
	AnnotationSandboxUID    = "io.kubernetes.cri.sandbox-uid"
	AnnotationContainerName = "io.kubernetes.cri.container-name"
	AnnotationImageName     = "io.kubernetes.cri.image-name"

	ContainerTypeSandbox   = "sandbox"
	ContainerTypeContainer = "container"
)

// CgroupsPath returns the cgroups path of a pod's pause container or a
// container: a path below the pod's cgroup parent for cgroupfs, or
// "slice:prefix:name" for runc's systemd driver.
func CgroupsPath(parent, id string, systemd bool) string {
	if systemd {
		if parent == "" {
			parent = "system.slice"
		}
		return parent + ":cri-cricket:" + id
	}
	if parent == "" {
		parent = "/cricket"
	}
	return path.Join("/", parent, id)
}

// CgroupFSPath turns a cgroups path as written in a spec into the path
// below each controller's mount: cgroupfs paths are already that; runc's
// systemd form "parent.slice:prefix:name" is expanded the way systemd lays
// out slices and scopes.
func CgroupFSPath(cgroupsPath string) string {
	parts := strings.Split(cgroupsPath, ":")
	if len(parts) != 3 {
		return cgroupsPath
	}
	return path.Join(SlicePath(parts[0]), parts[1]+"-"+parts[2]+".scope")
}

// SlicePath is where systemd puts a slice: "a-b.slice" is
// /a.slice/a-b.slice.
func SlicePath(slice string) string {
	dir := "/"
	if s := strings.TrimSuffix(slice, ".slice"); s != "" && s != "-" {
		acc := ""
		for i, comp := range strings.Split(s, "-") {
			if i > 0 {
				acc += "-"
			}
			acc += comp
			dir = path.Join(dir, acc+".slice")
		}
	}
	return dir
}

// UserNS is a user namespace's ID mappings.
type UserNS struct {
	UIDs, GIDs []specs.LinuxIDMapping
}

// withUserNS puts the process in a user namespace with the mappings: a new
// one, or the one at path.
func withUserNS(u *UserNS, path string) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if err := oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UserNamespace, Path: path})(ctx, c, ctr, s); err != nil {
			return err
		}
		s.Linux.UIDMappings, s.Linux.GIDMappings = u.UIDs, u.GIDs
		return nil
	}
}

// withNamespace sets the namespace of type t to join path, or removes it
// (sharing the host's) when host is true.
func withNamespace(t specs.LinuxNamespaceType, path string, host bool) oci.SpecOpts {
	if host {
		return oci.WithHostNamespace(t)
	}
	return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: t, Path: path})
}

// seccompOpts returns the seccomp settings for a security profile. An
// empty profile means unconfined, as in kubelet's contract with runtimes.
func seccompOpts(p *runtime.SecurityProfile, privileged bool) (oci.SpecOpts, error) {
	if privileged || p == nil {
		return oci.WithSeccompUnconfined, nil
	}
	switch p.GetProfileType() {
	case runtime.SecurityProfile_Unconfined:
		return oci.WithSeccompUnconfined, nil
	case runtime.SecurityProfile_RuntimeDefault:
		return seccomp.WithDefaultProfile(), nil
	case runtime.SecurityProfile_Localhost:
		lp := p.GetLocalhostRef()
		if lp == "" || !path.IsAbs(lp) {
			return nil, fmt.Errorf("seccomp localhost profile %q must be an absolute path: %w", lp, errdefs.ErrInvalidArgument)
		}
		return seccomp.WithProfile(lp), nil
	}
	return nil, fmt.Errorf("unknown seccomp profile type %v: %w", p.GetProfileType(), errdefs.ErrInvalidArgument)
}

// withSysctls sets namespaced sysctls.
func withSysctls(sysctls map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if len(sysctls) == 0 {
			return nil
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range sysctls {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}

// withMountReplaced drops any mount at dest and adds m.
func withMountReplaced(m specs.Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		out := s.Mounts[:0]
		for _, old := range s.Mounts {
			if path.Clean(old.Destination) != path.Clean(m.Destination) {
				out = append(out, old)
			}
		}
		s.Mounts = append(out, m)
		return nil
	}
}

// withoutRlimits lets processes inherit the shim's limits (containerd's
// service file raises them), as kubelet expects of CRI runtimes.
func withoutRlimits(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	s.Process.Rlimits = nil
	return nil
}

// withAnnotations merges annotations into the spec.
func withAnnotations(a map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for k, v := range a {
			s.Annotations[k] = v
		}
		return nil
	}
}

// imageArgs combines an image's ENTRYPOINT and CMD with a CRI command and
// args the way kubelet documents: command replaces ENTRYPOINT (and drops
// CMD), args replace CMD.
func imageArgs(entrypoint, cmd, command, args []string) []string {
	if len(command) > 0 {
		return append(append([]string{}, command...), args...)
	}
	if len(args) > 0 {
		cmd = args
	}
	return append(append([]string{}, entrypoint...), cmd...)
}

// mergeEnv overlays CRI env on the image env; the request wins.
func mergeEnv(image []string, kvs []*runtime.KeyValue) []string {
	out := append([]string{}, image...)
	index := map[string]int{}
	for i, e := range out {
		k, _, _ := strings.Cut(e, "=")
		index[k] = i
	}
	for _, kv := range kvs {
		e := kv.GetKey() + "=" + string(kv.GetValue())
		if i, ok := index[kv.GetKey()]; ok {
			out[i] = e
		} else {
			index[kv.GetKey()] = len(out)
			out = append(out, e)
		}
	}
	return out
}
