package spec

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Mount is a CRI mount whose host source the caller has resolved (symlinks
// followed, a missing directory created).
type Mount struct {
	CRI    *runtime.Mount
	Source string
}

// ValidateMount checks a CRI mount's fields, before any side effect.
func ValidateMount(m *runtime.Mount) error {
	bad := func(why string) error {
		return fmt.Errorf("mount %q -> %q: %s: %w", m.GetHostPath(), m.GetContainerPath(), why, errdefs.ErrInvalidArgument)
	}
	switch {
	case m.GetContainerPath() == "" || !path.IsAbs(m.GetContainerPath()):
		return bad("container_path must be absolute")
	case m.GetImage().GetImage() == "" && (m.GetHostPath() == "" || !path.IsAbs(m.GetHostPath())):
		return bad("host_path must be absolute")
	case m.GetRecursiveReadOnly() && !m.GetReadonly():
		return bad("recursive_read_only needs readonly")
	case m.GetRecursiveReadOnly() && m.GetPropagation() != runtime.MountPropagation_PROPAGATION_PRIVATE:
		return bad("recursive_read_only needs private propagation")
	case (len(m.GetUidMappings()) > 0) != (len(m.GetGidMappings()) > 0):
		return bad("an idmapped mount needs both uid_mappings and gid_mappings")
	case m.GetImage().GetImage() != "" && len(m.GetUidMappings()) > 0:
		return bad("image mounts cannot be idmapped")
	}
	if sub := m.GetImageSubPath(); sub != "" && m.GetImage().GetImage() != "" {
		if err := validateImageSubPath(sub); err != nil {
			return bad(err.Error())
		}
	}
	for _, ms := range [][]*runtime.IDMapping{m.GetUidMappings(), m.GetGidMappings()} {
		for _, x := range ms {
			if x.GetLength() == 0 || uint64(x.GetHostId())+uint64(x.GetLength()) > 1<<32 || uint64(x.GetContainerId())+uint64(x.GetLength()) > 1<<32 {
				return bad(fmt.Sprintf("mapping %d:%d:%d is empty or out of range", x.GetContainerId(), x.GetHostId(), x.GetLength()))
			}
		}
	}
	return nil
}

// validateImageSubPath checks an image mount's image_sub_path as a path:
// relative, and without a ".." element that would climb out of the image
// (a name that merely starts with dots, like Kubernetes' "..data", is
// fine). Symlinks inside the image are resolved within it when the image
// is mounted.
func validateImageSubPath(sub string) error {
	if path.IsAbs(sub) || strings.ContainsRune(sub, 0) {
		return fmt.Errorf("image_sub_path %q must be a relative path", sub)
	}
	for _, name := range strings.Split(sub, "/") {
		if name == ".." {
			return fmt.Errorf("image_sub_path %q must stay inside the image: \"..\" is not allowed", sub)
		}
	}
	return nil
}

// bindMount renders one CRI mount as an OCI bind mount.
func bindMount(m Mount) specs.Mount {
	opts := []string{"rbind"}
	switch m.CRI.GetPropagation() {
	case runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		opts = append(opts, "rslave")
	case runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		opts = append(opts, "rshared")
	default:
		opts = append(opts, "rprivate")
	}
	switch {
	case m.CRI.GetRecursiveReadOnly():
		opts = append(opts, "rro")
	case m.CRI.GetReadonly():
		opts = append(opts, "ro")
	default:
		opts = append(opts, "rw")
	}
	opts = append(opts, m.CRI.GetMountOptions()...)
	return specs.Mount{Destination: m.CRI.GetContainerPath(), Type: "bind", Source: m.Source, Options: opts}
}

// rootfsPropagation is the propagation the container's root must have for
// its mounts' propagation to work.
func rootfsPropagation(mounts []Mount) string {
	p := ""
	for _, m := range mounts {
		switch m.CRI.GetPropagation() {
		case runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			return "rshared"
		case runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			p = "rslave"
		}
	}
	return p
}

// sortMounts orders mounts so that a parent directory is mounted before
// what is mounted below it (stable for equal depth).
func sortMounts(ms []specs.Mount) {
	depth := func(p string) int { return strings.Count(path.Clean(p), "/") }
	sort.SliceStable(ms, func(i, j int) bool { return depth(ms[i].Destination) < depth(ms[j].Destination) })
}
