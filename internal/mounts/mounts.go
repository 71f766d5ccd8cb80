// Package mounts lists and removes the mounts below a directory: what the
// test rig and the benchmark tear down after a daemon, and what sandbox
// recovery finds in a directory no sandbox owns.
package mounts

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Under returns the mount points strictly below dir, in mount order (a
// parent before what is mounted on top of it).
func Under(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// UnmountUnder lazily unmounts every mount below dir, last mounted first.
func UnmountUnder(dir string) {
	mps := Under(dir)
	for i := len(mps) - 1; i >= 0; i-- {
		unix.Unmount(mps[i], unix.MNT_DETACH)
	}
}
