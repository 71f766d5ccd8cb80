// Package mounts lists and removes the mounts below a directory: what the
// test rig and the benchmark tear down after a daemon, and what sandbox
// recovery finds in a directory no sandbox owns.
package mounts

import (
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Under returns the mount points strictly below dir, in mount order (a
// parent before what is mounted on top of it); none when the mount table
// cannot be read (see List).
func Under(dir string) []string {
	out, _ := List(dir)
	return out
}

// List is Under that says when the mount table cannot be read.
// moby/sys/mountinfo reads /proc/self/mountinfo, octal escapes (a space in
// a path) undone.
func List(dir string) ([]string, error) {
	infos, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return !strings.HasPrefix(m.Mountpoint, dir+"/"), false
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(infos))
	for _, m := range infos {
		out = append(out, m.Mountpoint)
	}
	return out, nil
}

// UnmountUnder lazily unmounts every mount below dir, last mounted first.
func UnmountUnder(dir string) {
	mps := Under(dir)
	for i := len(mps) - 1; i >= 0; i-- {
		unix.Unmount(mps[i], unix.MNT_DETACH)
	}
}
