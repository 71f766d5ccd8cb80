package testrig

import (
	"path/filepath"
)

// CgroupParent is the pod cgroup parent a test of this daemon may use
// ("/ck-<namespace>", optionally with sub, below it). Creating and removing
// pod cgroups is kubelet's job, not the runtime's, so the rig plays
// kubelet: the daemon's clean-up removes the tree in every hierarchy.
func (d *Daemon) CgroupParent(sub string) string {
	return filepath.Join("/ck-"+d.Config.Containerd.Namespace, sub)
}
