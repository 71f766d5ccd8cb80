package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/cgroups/v3"
)

// DefaultRoot is where the host's cgroup hierarchies are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// Hierarchy is a host's cgroup file system: its root and how cgroups are
// mounted below it.
type Hierarchy struct {
	// Root is the cgroup v2 mount on a unified host, and the directory
	// (a tmpfs) holding one mount per v1 controller, plus the v2 one at
	// "unified" on a hybrid host, otherwise.
	Root string
	// Mode is cgroups.Legacy (v1 only), cgroups.Hybrid (the v1
	// controllers, and a v2 hierarchy at Root/unified that holds the
	// same cgroups but no controller runc sets limits through) or
	// cgroups.Unified (v2 only); cgroups.Unavailable when there is no
	// cgroup file system.
	Mode cgroups.CGMode
}

// Host is the host's hierarchy: /sys/fs/cgroup in the mode the kernel
// reports there (containerd's cgroups.Mode, read once).
func Host() Hierarchy { return Hierarchy{Root: DefaultRoot, Mode: cgroups.Mode()} }

// String names the root and the mode, for messages:
// "/sys/fs/cgroup (hybrid)".
func (h Hierarchy) String() string {
	mode := map[cgroups.CGMode]string{cgroups.Legacy: "v1", cgroups.Hybrid: "hybrid", cgroups.Unified: "unified"}[h.Mode]
	if mode == "" {
		mode = "no cgroup file system"
	}
	return h.Root + " (" + mode + ")"
}

// Unified reports whether the host runs cgroup v2 only.
func Unified() bool { return Host().Unified() }

// Unified reports whether h is a cgroup v2 hierarchy only.
func (h Hierarchy) Unified() bool { return h.Mode == cgroups.Unified }

// V2Root is where the cgroup v2 hierarchy is mounted: the root on a
// unified host, Root/unified on a hybrid one (runc and kubelet create
// every cgroup there too, under the same path as in the v1 hierarchies),
// and "" on a v1-only host.
func (h Hierarchy) V2Root() string {
	switch h.Mode {
	case cgroups.Unified:
		return h.Root
	case cgroups.Hybrid:
		return filepath.Join(h.Root, "unified")
	}
	return ""
}

// V2Dir is the cgroup v2 directory of path (the one holding its pressure
// files), or "" on a v1-only host.
func (h Hierarchy) V2Dir(path string) string {
	root := h.V2Root()
	if root == "" {
		return ""
	}
	return filepath.Join(root, path)
}

// Dir is the directory holding the files of controller (a v1 name such as
// "memory", "cpu", "pids") for the cgroup at path: Root/<controller>/path
// on a v1 or hybrid host, where runc sets limits through the v1
// controllers, and Root/path on a unified one. Whether the controller is
// there is HasController's question.
func (h Hierarchy) Dir(controller, path string) string {
	if h.Unified() {
		return filepath.Join(h.Root, path)
	}
	return filepath.Join(h.Root, controller, path)
}

// HasController reports whether the controller can hold a cgroup's
// limits: on v1 and hybrid hosts, mounted as a v1 hierarchy (a hybrid
// host may have it only on its v2 side, which runc does not use for
// limits); on a unified host, among the root's controllers.
func (h Hierarchy) HasController(controller string) (bool, error) {
	if h.Unified() {
		b, err := os.ReadFile(filepath.Join(h.Root, "cgroup.controllers"))
		if err != nil {
			return false, err
		}
		return slices.Contains(strings.Fields(string(b)), controller), nil
	}
	_, err := os.Stat(filepath.Join(h.Root, controller))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Roots are the mounted hierarchies: Root on a unified host; on a v1 or
// hybrid one every directory below Root (each v1 controller, named
// hierarchies such as systemd's, and the v2 one), the links that name
// co-mounted controllers ("cpu" for "cpu,cpuacct") left out.
func (h Hierarchy) Roots() ([]string, error) {
	switch h.Mode {
	case cgroups.Unified:
		return []string{h.Root}, nil
	case cgroups.Unavailable:
		return nil, fmt.Errorf("no cgroup file system at %s", h.Root)
	}
	ents, err := os.ReadDir(h.Root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() { // a symlink's DirEntry is not a directory
			out = append(out, filepath.Join(h.Root, e.Name()))
		}
	}
	return out, nil
}

// Dirs is the cgroup at path in every mounted hierarchy (see Roots),
// whether or not it exists there.
func (h Hierarchy) Dirs(path string) ([]string, error) {
	roots, err := h.Roots()
	if err != nil {
		return nil, err
	}
	for i, r := range roots {
		roots[i] = filepath.Join(r, path)
	}
	return roots, nil
}
