package crilog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// openat2 is unix.Openat2, a variable so that tests can play a kernel older
// than Linux 5.6, which answers ENOSYS.
var openat2 = unix.Openat2

// The modes of kubelet's own log files; the umask applies.
const (
	fileMode = 0o640
	dirMode  = 0o755
)

// cleanRelPath rejects the paths that name something outside the log
// directory before any system call sees them.
func cleanRelPath(rel string) (string, error) {
	invalid := func(why string) (string, error) {
		return "", fmt.Errorf("crilog: log path %q %s: %w", rel, why, errdefs.ErrInvalidArgument)
	}
	if rel == "" || filepath.IsAbs(rel) {
		return invalid("is not a relative path")
	}
	for _, name := range strings.Split(rel, "/") {
		if name == ".." {
			return invalid(`contains ".."`)
		}
	}
	rel = filepath.Clean(rel)
	if rel == "." {
		return invalid("names the log directory itself")
	}
	return rel, nil
}

// openError tells a path that is unacceptable (a symlink, an escape, a
// non-directory on the way) from a system that failed.
func openError(dir, rel string, err error) error {
	var nr *notRegular
	if errors.As(err, &nr) {
		return fmt.Errorf("crilog: log path %q in %s is %w: %w", rel, dir, nr, errdefs.ErrInvalidArgument)
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, errEscapes) {
		return fmt.Errorf("crilog: log path %q must lead to a file inside %s through directories only, no symlinks: %w: %w", rel, dir, errdefs.ErrInvalidArgument, err)
	}
	return fmt.Errorf("crilog: open log %q in %s: %w", rel, dir, err)
}

// openBeneath is openat(root, rel, flags, mode) that fails, rather than
// follow a symlink or leave root, on any component of rel. rel is clean and
// free of "..".
func openBeneath(root int, rel string, flags int, mode uint32) (int, error) {
	flags |= unix.O_CLOEXEC
	fd, err := openat2(root, rel, &unix.OpenHow{
		Flags:   uint64(flags),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != unix.ENOSYS {
		return fd, err
	}

	// No openat2: resolve one component at a time with O_NOFOLLOW, each in
	// the directory opened by the step before. Without ".." in rel this
	// cannot climb out of root.
	dirfd := root
	closeDir := func() {
		if dirfd != root {
			unix.Close(dirfd)
		}
	}
	defer closeDir()
	names := strings.Split(rel, "/")
	for _, name := range names[:len(names)-1] {
		next, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		closeDir()
		dirfd = next
	}
	return unix.Openat(dirfd, names[len(names)-1], flags|unix.O_NOFOLLOW, mode)
}

// mkdirBeneath creates the directory rel below root and any missing
// parent with os.Root, which never leaves the directory it was opened on
// (a symlink that would lead out fails the call; one that stays inside is
// followed, and the open that comes next refuses it). The root is the very
// directory root refers to, reopened through /proc/self/fd, not looked up
// by name again.
func mkdirBeneath(root int, rel string) error {
	if rel == "." {
		return nil
	}
	r, err := os.OpenRoot("/proc/self/fd/" + strconv.Itoa(root))
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.MkdirAll(rel, dirMode); err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			// Not the system's answer: os.Root's own refusal of a path
			// that leads out.
			return fmt.Errorf("%w: %w", err, errEscapes)
		}
		return err
	}
	return nil
}

// errEscapes marks os.Root's refusal of a path out of the log directory.
var errEscapes = errors.New("leads out of the log directory")
