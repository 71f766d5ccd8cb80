package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/moby/locker"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/invalidarg"
	"github.com/cricket-cri/cricket/spec"
)

// UserNS is a pod's user namespace: one mapping for UIDs and one for GIDs,
// container ID 0 included.
type UserNS struct {
	UIDs, GIDs []specs.LinuxIDMapping
}

// UserNS returns the pod's user namespace, or nil when it uses the host's.
func (s *Sandbox) UserNS() *UserNS {
	// No options at all means the host's user namespace: POD is the
	// enum's zero value.
	u := s.namespaceMode().GetUsernsOptions()
	if u == nil || u.GetMode() != runtime.NamespaceMode_POD {
		return nil
	}
	conv := func(ms []*runtime.IDMapping) []specs.LinuxIDMapping {
		out := make([]specs.LinuxIDMapping, 0, len(ms))
		for _, m := range ms {
			out = append(out, specs.LinuxIDMapping{ContainerID: m.GetContainerId(), HostID: m.GetHostId(), Size: m.GetLength()})
		}
		return out
	}
	return &UserNS{UIDs: conv(u.GetUids()), GIDs: conv(u.GetGids())}
}

// SpecUserNS is the pod's user namespace as package spec takes it, or nil
// when the pod uses the host's.
func (s *Sandbox) SpecUserNS() *spec.UserNS {
	u := s.UserNS()
	if u == nil {
		return nil
	}
	return &spec.UserNS{UIDs: u.UIDs, GIDs: u.GIDs}
}

// validateUserNS accepts a host user namespace (NODE, or no options) or a
// pod user namespace with exactly one mapping each for UIDs and GIDs that
// maps container ID 0.
func validateUserNS(u *runtime.UserNamespace) error {
	if u == nil {
		return nil
	}
	switch u.GetMode() {
	case runtime.NamespaceMode_NODE:
		if len(u.GetUids()) > 0 || len(u.GetGids()) > 0 {
			return invalidarg.Errorf("userns_options: mappings are only valid with mode POD")
		}
		return nil
	case runtime.NamespaceMode_POD:
	default:
		return invalidarg.Errorf("userns_options: mode %s is not supported (POD or NODE)", u.GetMode())
	}
	for name, ms := range map[string][]*runtime.IDMapping{"uids": u.GetUids(), "gids": u.GetGids()} {
		if len(ms) != 1 {
			return invalidarg.Errorf("userns_options.%s: want exactly one mapping, got %d", name, len(ms))
		}
		m := ms[0]
		if m.GetContainerId() != 0 {
			return invalidarg.Errorf("userns_options.%s: container ID 0 must be mapped (mapping starts at %d)", name, m.GetContainerId())
		}
		if m.GetLength() == 0 || uint64(m.GetHostId())+uint64(m.GetLength()) > 1<<32 {
			return invalidarg.Errorf("userns_options.%s: host range %d+%d is empty or out of range", name, m.GetHostId(), m.GetLength())
		}
		if m.GetHostId() == 0 {
			return invalidarg.Errorf("userns_options.%s: mapping container root to host root defeats the user namespace", name)
		}
	}
	return nil
}

// WithRemappedSnapshot gives a new container a writable snapshot on the
// image whose files are owned by the IDs the user namespace maps them to:
// a committed copy of the image's top layer, chowned once per image and
// mapping and shared by later containers.
func WithRemappedSnapshot(snapshotter, key, chainID, imageName string, u *UserNS) client.NewContainerOpts {
	return func(ctx context.Context, c *client.Client, ctr *containers.Container) error {
		sn := c.SnapshotService(snapshotter)
		remapped := digest.FromString(fmt.Sprintf("%s|%v|%v", chainID, u.UIDs, u.GIDs)).String()
		// One remapping at a time per image and mapping: chowning is not
		// idempotent.
		remapLocks.Lock(remapped)
		defer remapLocks.Unlock(remapped)
		if _, err := sn.Stat(ctx, remapped); errdefs.IsNotFound(err) {
			work := remapped + "-remap"
			mounts, err := sn.Prepare(ctx, work, chainID)
			if err != nil && !errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("prepare remapped snapshot: %w", err)
			}
			if errdefs.IsAlreadyExists(err) {
				if mounts, err = sn.Mounts(ctx, work); err != nil {
					return err
				}
			}
			if err := mount.WithTempMount(ctx, mounts, func(root string) error { return remapTree(root, u) }); err != nil {
				sn.Remove(ctx, work)
				return fmt.Errorf("remap image files for the user namespace: %w", err)
			}
			if err := sn.Commit(ctx, remapped, work); err != nil && !errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("commit remapped snapshot: %w", err)
			}
		} else if err != nil {
			return err
		}
		if _, err := sn.Prepare(ctx, key, remapped); err != nil {
			return fmt.Errorf("prepare snapshot %s on %s: %w", key, remapped, err)
		}
		ctr.Snapshotter, ctr.SnapshotKey, ctr.Image = snapshotter, key, imageName
		return nil
	}
}

// remapLocks holds a lock per remapped snapshot while one is being made
// (a lock nobody holds or waits for is dropped).
var remapLocks = locker.New()

// remapTree shifts every file's owner into the user namespace's host range.
func remapTree(root string, u *UserNS) error {
	return filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		uid, ok1 := toHost(u.UIDs, st.Uid)
		gid, ok2 := toHost(u.GIDs, st.Gid)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s is owned by %d:%d, outside the user namespace's range", path, st.Uid, st.Gid)
		}
		if err := os.Lchown(path, int(uid), int(gid)); err != nil {
			return err
		}
		// chown clears setuid/setgid: put the mode back.
		if mode := info.Mode(); mode&os.ModeSymlink == 0 && mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0 {
			return os.Chmod(path, mode)
		}
		return nil
	})
}

func toHost(ms []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, m := range ms {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return m.HostID + id - m.ContainerID, true
		}
	}
	return 0, false
}
