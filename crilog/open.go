package crilog

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// maxOpenAttempts bounds how often openLog starts over when the name it
// examined changed before it could act on it; only a party racing it on
// purpose makes it start over at all.
const maxOpenAttempts = 5

// openLog opens rel below dir for appending, creating it and its missing
// parent directories.
//
// An existing file is appended to only if it is a regular file with no
// other name. A hard link placed at the log path would otherwise send the
// container's output into the file it shares an inode with, wherever that
// is on the file system (symlinks are refused while resolving, hard links
// cannot be). Such a name is unlinked and a new, empty file takes its
// place: the linked file stays as it was, and the container's log is
// where kubelet looks for it. Anything else that is not a regular file (a
// FIFO, a socket, a device, a directory, a symlink the fallback resolver
// opened as itself) is refused; it is never opened for writing.
func openLog(dir, rel string) (*os.File, error) {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("crilog: open log directory: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(root)
	name := filepath.Join(dir, rel)
	for range maxOpenAttempts {
		fd, err := appendExisting(root, rel)
		if err == nil {
			return os.NewFile(uintptr(fd), name), nil
		}
		if err != unix.ENOENT {
			return nil, openError(dir, rel, err)
		}
		fd, err = createNew(root, rel)
		if err == unix.EEXIST {
			continue // created since appendExisting looked: examine it
		}
		if err != nil {
			return nil, openError(dir, rel, err)
		}
		return os.NewFile(uintptr(fd), name), nil
	}
	return nil, fmt.Errorf("crilog: log path %q in %s changed %d times while it was being opened: %w", rel, dir, maxOpenAttempts, errdefs.ErrAborted)
}

// notRegular says what is at a log path instead of a regular file.
type notRegular struct{ kind string }

func (e *notRegular) Error() string { return "a " + e.kind + ", not a regular file" }

// appendExisting opens the existing file at rel for appending, after
// making sure it is a regular file with no other name. The file is
// examined through an O_PATH descriptor, which opens nothing for I/O, and
// then reopened through /proc/self/fd: the same inode, without resolving
// rel again, so nothing can be swapped in between. A file with other names
// is unlinked and ENOENT returned, for the caller to create a new one.
func appendExisting(root int, rel string) (int, error) {
	pfd, err := openBeneath(root, rel, unix.O_PATH, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return -1, &notRegular{kind: fileKind(st.Mode)}
	}
	if st.Nlink > 1 {
		if err := unlinkBeneath(root, rel, &st); err != nil {
			return -1, err
		}
		return -1, unix.ENOENT
	}
	return unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
}

// createNew creates rel (which must not exist) and its missing parents.
func createNew(root int, rel string) (int, error) {
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_APPEND
	fd, err := openBeneath(root, rel, flags, fileMode)
	if err == unix.ENOENT {
		// With O_CREAT, ENOENT means a parent directory is missing, which
		// is the usual case for a new container's first log file.
		if err = mkdirBeneath(root, filepath.Dir(rel)); err == nil {
			fd, err = openBeneath(root, rel, flags, fileMode)
		}
	}
	return fd, err
}

// unlinkBeneath removes the name rel below root if it still names the
// inode st describes; if something else took the name meanwhile, that is
// left for the next attempt to examine. (A swap between the check and the
// unlink only removes a name from the log directory, which the swapper
// could write anyway.)
func unlinkBeneath(root int, rel string, st *unix.Stat_t) error {
	parent := root
	if d := filepath.Dir(rel); d != "." {
		fd, err := openBeneath(root, d, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		parent = fd
	}
	base := filepath.Base(rel)
	var now unix.Stat_t
	if err := unix.Fstatat(parent, base, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		return nil
	}
	if err := unix.Unlinkat(parent, base, 0); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// fileKind names a file type for an error message.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "file of unknown type"
}
