package container

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/mounts"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/spec"
)

// idmapMounts gives each mount that asks for uid/gid mappings (kubelet asks
// for every mount of a hostUsers: false pod: its /etc/hosts, termination
// log and volumes) an idmapped clone of its host source, made by cricketd
// with the kernel's mount API, and points the mount at the clone. A bind
// mount of an idmapped mount stays idmapped, so the OCI runtime needs no
// support of its own (runc 1.1 has none). Files owned by host user 0 then
// show as the container's root, and what the container's root writes is
// owned by host user 0 on disk.
//
// The clones live under <container dir>/idmapped, so that every path that
// removes the directory unmounts them first (removeContainerDir).
func idmapMounts(dir string, sb *sandbox.Sandbox, ms []spec.Mount) ([]spec.Mount, error) {
	var userns *os.File
	defer func() {
		if userns != nil {
			userns.Close()
		}
	}()
	out := slices.Clone(ms)
	for i, m := range out {
		if len(m.CRI.GetUidMappings()) == 0 && len(m.CRI.GetGidMappings()) == 0 {
			continue
		}
		if err := sameMappings(m.CRI, sb.UserNS()); err != nil {
			return nil, err
		}
		if userns == nil {
			p := sb.NamespacePath(specs.UserNamespace)
			f, err := os.Open(p)
			if err != nil {
				return nil, fmt.Errorf("user namespace of sandbox %s (%s): %w", sb.ID, p, errdefs.ErrFailedPrecondition)
			}
			userns = f
		}
		target := filepath.Join(dir, "idmapped", fmt.Sprint(i))
		if err := idmapClone(m.Source, target, int(userns.Fd())); err != nil {
			return nil, fmt.Errorf("mount %q -> %q: idmapped mount: %w", m.Source, m.CRI.GetContainerPath(), err)
		}
		out[i].Source = target
	}
	return out, nil
}

// sameMappings accepts a mount's mappings only when they are the pod's:
// the clone is idmapped through the pod's user namespace.
func sameMappings(m *runtime.Mount, u *sandbox.UserNS) error {
	bad := func(why string) error {
		return fmt.Errorf("mount %q -> %q: %s: %w", m.GetHostPath(), m.GetContainerPath(), why, errdefs.ErrInvalidArgument)
	}
	if u == nil {
		return bad("uid/gid mappings need a pod in its own user namespace")
	}
	same := func(cri []*runtime.IDMapping, pod []specs.LinuxIDMapping) bool {
		return len(cri) == 1 && len(pod) == 1 && cri[0].GetContainerId() == pod[0].ContainerID &&
			cri[0].GetHostId() == pod[0].HostID && cri[0].GetLength() == pod[0].Size
	}
	if !same(m.GetUidMappings(), u.UIDs) || !same(m.GetGidMappings(), u.GIDs) {
		return bad("uid/gid mappings must be the pod's user namespace mappings")
	}
	return nil
}

// idmapClone clones the mount tree at source (recursively, as the rbind it
// replaces), idmaps it through the user namespace usernsFD and attaches it
// at target, which it creates (a file for a file source).
func idmapClone(source, target string, usernsFD int) error {
	fi, err := os.Stat(source)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	if fi.IsDir() {
		err = os.Mkdir(target, 0o755)
	} else {
		err = os.WriteFile(target, nil, 0o644)
	}
	if err != nil {
		return err
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", source, err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFD)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) {
			return fmt.Errorf("the filesystem of %s cannot be idmapped: %w: %w", source, err, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("mount_setattr %s: %w", source, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount to %s: %w", target, err)
	}
	return nil
}

// removeContainerDir removes a container's directory after detaching every
// mount below it (idmapped clones, image mounts): removing through a
// mount still attached would delete what it shows, a host directory for an
// idmapped volume. It refuses to remove what it could not unmount.
func removeContainerDir(dir string) error {
	// No reading of the mount table in the common case, a container
	// without idmapped or image mounts (the table grows with every pod
	// on the node): a walk of its few files says nothing is mounted.
	mounted, err := mounts.AnyBelow(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || mounted {
		mounts.UnmountUnder(dir)
		if left := mounts.Under(dir); len(left) > 0 {
			return fmt.Errorf("remove %s: still mounted below it: %v", dir, left)
		}
	}
	return os.RemoveAll(dir)
}
