package shimproc

import (
	"os"
	"path/filepath"
)

// CricketStateRoot is where cricket's shim has libcontainer keep its
// containers' state, a directory per namespace.
const CricketStateRoot = "/run/containerd/cricket"

// StateRoots are where the shims keep their containers' runtime state, by
// namespace: runc's (the runc shim's default root) and cricket's shim's.
var StateRoots = []string{"/run/containerd/runc", CricketStateRoot}

// RemoveState removes the runtime state the shims keep of container id in
// namespace. It is for a container whose shim was killed while creating
// its task: containerd then removes the task's bundle but does not run the
// shim's delete command, which would have removed the state. The caller
// has made sure that no process of the container is left (the shim's
// process tree killed).
func RemoveState(namespace, id string) error {
	var first error
	for _, root := range StateRoots {
		if err := os.RemoveAll(filepath.Join(root, namespace, id)); err != nil && first == nil {
			first = err
		}
	}
	return first
}
