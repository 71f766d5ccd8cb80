package daemon

import (
	"os"
	"path/filepath"
)

// cricketShim is the binary of cricket's shim (runtime type
// io.containerd.cricket.v1), which `make build` puts next to cricketd.
const cricketShim = "containerd-shim-cricket-v1"

// ownShimDirs returns the directory of cricketd's executable when
// cricket's shim sits next to it. A managed containerd gets it first in its
// PATH, and cricketd starts pinned pods' shims from it, so that `make run`
// runs pods on the cricket handler without installing the shim; a system
// containerd looks in its own PATH only (see README).
func ownShimDirs() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	dir := filepath.Dir(exe)
	if fi, err := os.Stat(filepath.Join(dir, cricketShim)); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return nil
	}
	return []string{dir}
}
