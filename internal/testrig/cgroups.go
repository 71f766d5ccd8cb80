package testrig

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// CgroupParent is the pod cgroup parent a test of this daemon may use
// ("/ck-<namespace>", optionally with sub, below it). Creating and removing
// pod cgroups is kubelet's job, not the runtime's, so the rig plays
// kubelet: the daemon's clean-up removes the tree in every hierarchy.
func (d *Daemon) CgroupParent(sub string) string {
	return filepath.Join("/ck-"+d.Config.Containerd.Namespace, sub)
}

// removeCgroupTree removes the cgroup directory at path (relative to each
// hierarchy) and the ones below it, deepest first, in every hierarchy. A
// cgroup that still holds a process stays, and is returned.
func removeCgroupTree(path string) (left []string) {
	roots := []string{"/sys/fs/cgroup"}
	ctrls, _ := os.ReadDir("/sys/fs/cgroup")
	for _, c := range ctrls {
		if c.IsDir() {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", c.Name()))
		}
	}
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(filepath.Join(root, path), func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
		for _, dir := range dirs {
			if err := syscall.Rmdir(dir); err != nil && !os.IsNotExist(err) {
				left = append(left, dir)
			}
		}
	}
	return left
}
