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
	"github.com/containerd/continuity/fs"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

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
			return nil, fmt.Errorf("mount %q: image volumes are not supported yet: %w", m.GetContainerPath(), errdefs.ErrNotImplemented)
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
func (m *Manager) imageVolumes(ctx context.Context, c *Container, volumes map[string]struct{}, mounts []spec.Mount, rootfs []mount.Mount) ([]specs.Mount, error) {
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
	var out []specs.Mount
	err := mount.WithReadonlyTempMount(ctx, rootfs, func(root string) error {
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
