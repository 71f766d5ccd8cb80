package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/continuity/fs"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/spec"
)

// resolveMounts prepares the config's host-path mounts: a missing host
// path is created as a directory, symlinks are resolved (the bind mount
// must name the real path), and propagation other than private needs a
// host mount that propagates.
func resolveMounts(cfg *runtime.ContainerConfig) ([]spec.Mount, error) {
	var out []spec.Mount
	for _, m := range cfg.GetMounts() {
		if m.GetImage().GetImage() != "" {
			continue // see imageMounts
		}
		src := m.GetHostPath()
		if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, fmt.Errorf("mount %q: create missing host path: %w", src, err)
			}
		}
		real, err := filepath.EvalSymlinks(src)
		if err != nil {
			return nil, fmt.Errorf("mount %q: resolve host path: %w", src, err)
		}
		if err := checkPropagation(real, m.GetPropagation()); err != nil {
			return nil, err
		}
		out = append(out, spec.Mount{CRI: m, Source: real})
	}
	return out, nil
}

// checkPropagation verifies that the host mount holding path can propagate
// as asked: rshared needs a shared host mount, rslave a shared or slave one.
func checkPropagation(path string, p runtime.MountPropagation) error {
	if p == runtime.MountPropagation_PROPAGATION_PRIVATE {
		return nil
	}
	mp, opts, err := mountOf(path)
	if err != nil {
		return err
	}
	shared := strings.Contains(opts, "shared:")
	slave := strings.Contains(opts, "master:")
	switch {
	case p == runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL && !shared:
		return fmt.Errorf("mount %q: bidirectional propagation needs a shared host mount, but %q is not shared (mount --make-rshared %s): %w",
			path, mp, mp, errdefs.ErrFailedPrecondition)
	case p == runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER && !shared && !slave:
		return fmt.Errorf("mount %q: host-to-container propagation needs a shared or slave host mount, but %q is private (mount --make-rshared %s): %w",
			path, mp, mp, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// mountOf finds the mount point holding path and its optional fields
// ("shared:N", "master:N") in /proc/self/mountinfo.
func mountOf(path string) (mountPoint, optional string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		mp := fields[4]
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(mountPoint) {
			// Later lines win for the same mount point: they are mounted on top.
			var opt []string
			for _, fl := range fields[6:] {
				if fl == "-" {
					break
				}
				opt = append(opt, fl)
			}
			mountPoint, optional = mp, strings.Join(opt, " ")
		}
	}
	if mountPoint == "" {
		return "", "", fmt.Errorf("no mount holds %q", path)
	}
	return mountPoint, optional, sc.Err()
}

// imageVolumes backs each VOLUME of the image that the config does not
// mount with a directory of the container, seeded with the image's content
// at that path (as Docker does).
func (m *Manager) imageVolumes(ctx context.Context, c *Container, volumes map[string]struct{}, mounts []spec.Mount, rootfsMounts func() ([]mount.Mount, error)) ([]specs.Mount, error) {
	if m.opts.IgnoreVolumes || len(volumes) == 0 {
		return nil, nil
	}
	taken := map[string]bool{}
	for _, mt := range mounts {
		taken[filepath.Clean(mt.CRI.GetContainerPath())] = true
	}
	var paths []string
	for p := range volumes {
		if p = filepath.Clean(p); filepath.IsAbs(p) && !taken[p] {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil, nil
	}
	sort.Strings(paths)
	rootfs, err := rootfsMounts()
	if err != nil {
		return nil, err
	}
	var out []specs.Mount
	err = mount.WithReadonlyTempMount(ctx, rootfs, func(root string) error {
		for i, p := range paths {
			host := filepath.Join(c.Dir, "volumes", fmt.Sprint(i))
			if err := os.MkdirAll(host, 0o755); err != nil {
				return err
			}
			src, err := fs.RootPath(root, p)
			if err != nil {
				return err
			}
			if fi, err := os.Stat(src); err == nil && fi.IsDir() {
				if err := fs.CopyDir(host, src); err != nil {
					return fmt.Errorf("seed volume %s: %w", p, err)
				}
			}
			out = append(out, specs.Mount{Destination: p, Type: "bind", Source: host, Options: []string{"rbind", "rprivate", "rw"}})
		}
		return nil
	})
	return out, err
}

// imageMount is a CRI mount of an image: the image's filesystem, read-only,
// from a view snapshot that cricket mounts under the container's directory.
type imageMount struct {
	cri   *runtime.Mount
	image *image.Image
	key   string // view snapshot key
	dir   string // host mount point
}

// resolveImageMounts finds the images that mounts of the config name; they
// must have been pulled.
func (m *Manager) resolveImageMounts(ctx context.Context, c *Container) ([]*imageMount, error) {
	var out []*imageMount
	for i, mt := range c.Config.GetMounts() {
		ref := mt.GetImage().GetImage()
		if ref == "" {
			continue
		}
		img, err := m.images.Get(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("image mount %q of image %q: %w", mt.GetContainerPath(), ref, err)
		}
		out = append(out, &imageMount{
			cri:   mt,
			image: img,
			key:   fmt.Sprintf("%s-image-mount-%d", c.ID, i),
			dir:   filepath.Join(c.Dir, "image-mounts", fmt.Sprint(i)),
		})
	}
	return out, nil
}

// mountImages creates the view snapshots and mounts them; it runs inside
// the container's creation lease, and the container's labels keep the views
// from garbage collection afterwards.
func (m *Manager) mountImages(ctx context.Context, sn snapshots.Snapshotter, ims []*imageMount, labels map[string]string) ([]spec.Mount, error) {
	var out []spec.Mount
	for i, im := range ims {
		mounts, err := sn.View(ctx, im.key, im.image.ChainID)
		if err != nil {
			return nil, fmt.Errorf("view of image %s for mount %q: %w", im.image.ID, im.cri.GetContainerPath(), err)
		}
		labels[fmt.Sprintf("containerd.io/gc.ref.snapshot.%s/image-mount-%d", m.opts.Snapshotter, i)] = im.key
		if err := os.MkdirAll(im.dir, 0o700); err != nil {
			return nil, err
		}
		if err := mount.All(mounts, im.dir); err != nil {
			return nil, fmt.Errorf("mount image %s for %q: %w", im.image.ID, im.cri.GetContainerPath(), err)
		}
		src, err := imageSubPath(im)
		if err != nil {
			return nil, err
		}
		ro := proto.Clone(im.cri).(*runtime.Mount)
		ro.Readonly = true
		out = append(out, spec.Mount{CRI: ro, Source: src})
	}
	return out, nil
}

// imageSubPath resolves an image mount's image_sub_path inside the
// mounted image (symlinks are followed, but never out of it). What the
// image holds there is part of the request: a path that does not exist or
// a symlink loop (which resolving gives up on) is an invalid argument.
func imageSubPath(im *imageMount) (string, error) {
	sub := im.cri.GetImageSubPath()
	bad := func(err error) error {
		return fmt.Errorf("image mount %q: image_sub_path %q in image %s: %v: %w", im.cri.GetContainerPath(), sub, im.image.ID, err, errdefs.ErrInvalidArgument)
	}
	src, err := fs.RootPath(im.dir, sub)
	if err != nil {
		return "", bad(err)
	}
	if _, err := os.Stat(src); err != nil {
		return "", bad(err)
	}
	return src, nil
}

// unmountImages undoes mountImages; safe to repeat.
func (m *Manager) unmountImages(ctx context.Context, c *Container) error {
	base := filepath.Join(c.Dir, "image-mounts")
	ents, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sn := m.client.SnapshotService(m.opts.Snapshotter)
	var errs []error
	for _, e := range ents {
		if err := mount.UnmountAll(filepath.Join(base, e.Name()), unix.MNT_DETACH); err != nil {
			errs = append(errs, err)
		}
		if err := sn.Remove(ctx, c.ID+"-image-mount-"+e.Name()); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
