package mounts

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// errNoMountID: the kernel does not report mount IDs (before 5.8).
var errNoMountID = errors.New("statx reports no mount ID")

// AnyBelow reports whether anything is mounted below dir, by walking the
// directory tree and comparing each entry's mount ID with dir's: far
// cheaper than reading the mount table, which the kernel formats anew on
// every read and which grows with every pod on the node, when dir is a
// few files (a container's FIFOs). The walk does not descend into a
// mount it finds. When mount IDs are not available it reads the table.
func AnyBelow(dir string) (bool, error) {
	root, err := mountID(unix.AT_FDCWD, dir)
	if errors.Is(err, errNoMountID) {
		mps, err := List(dir)
		return len(mps) > 0, err
	}
	if err != nil {
		return false, err
	}
	return anyOtherMount(dir, root)
}

func anyOtherMount(dir string, root uint64) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return false, err
	}
	fd := int(f.Fd())
	for _, name := range names {
		var st unix.Statx_t
		if err := unix.Statx(fd, name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE|unix.STATX_MNT_ID, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return false, err
		}
		if st.Mnt_id != root {
			return true, nil
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if found, err := anyOtherMount(filepath.Join(dir, name), root); found || err != nil {
				return found, err
			}
		}
	}
	return false, nil
}

func mountID(dirfd int, path string) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(dirfd, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID, &st); err != nil {
		return 0, err
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, errNoMountID
	}
	return st.Mnt_id, nil
}
