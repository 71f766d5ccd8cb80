// Package nspin creates Linux namespaces that no process holds: each is
// bind-mounted on a file (its pin) and lives until the pin is unmounted
// and the last process that joined it exits. cricket pins every pod's
// network namespace this way, and a pinned sandbox's UTS and IPC ones.
package nspin

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// Kind is a namespace type by its name under /proc/<pid>/ns.
type Kind string

const (
	Net Kind = "net"
	UTS Kind = "uts"
	IPC Kind = "ipc"
)

var cloneFlags = map[Kind]int{Net: unix.CLONE_NEWNET, UTS: unix.CLONE_NEWUTS, IPC: unix.CLONE_NEWIPC}

// Pin is one namespace to create and the file to pin it at.
type Pin struct {
	Kind Kind
	Path string
}

// New creates one new namespace per pin, pins each at its path (which
// must not exist yet: a pin is never reused) and then, if inside is not
// nil, runs inside in those namespaces, for what must be set up from
// within (a hostname, sysctls through /proc/sys).
//
// All of it runs on a dedicated OS thread that is discarded afterwards
// (see onThrowAwayThread): no other goroutine ever runs in the new
// namespaces, and inside may enter further ones. On failure, what was pinned is removed.
func New(pins []Pin, inside func() error) error {
	flags := 0
	for i, p := range pins {
		if err := createFile(p.Path); err != nil {
			removeAll(pins[:i])
			return err
		}
		flags |= cloneFlags[p.Kind]
	}
	errc := make(chan error, 1)
	go onThrowAwayThread(func() {
		errc <- func() error {
			if flags != 0 {
				if err := unix.Unshare(flags); err != nil {
					return fmt.Errorf("unshare namespaces: %w", err)
				}
			}
			self := fmt.Sprintf("/proc/%d/task/%d/ns", os.Getpid(), unix.Gettid())
			for _, p := range pins {
				if err := unix.Mount(filepath.Join(self, string(p.Kind)), p.Path, "none", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("pin %s namespace at %s: %w", p.Kind, p.Path, err)
				}
			}
			if inside != nil {
				return inside()
			}
			return nil
		}()
	})
	if err := <-errc; err != nil {
		removeAll(pins)
		return err
	}
	return nil
}

// onThrowAwayThread runs f on an OS thread that exits when f returns, for
// work that leaves the thread in other namespaces. Go ends a thread whose
// goroutine exits locked to it, except the process's main thread, which it
// parks for good instead: that one would stay in the namespaces, keep
// them alive after their pins are gone, and show them as the process's own
// in /proc/<pid>/ns. If the goroutine landed on the main thread, it keeps
// that thread locked (so the scheduler cannot hand it the next goroutine)
// and runs f on another one.
func onThrowAwayThread(f func()) {
	goruntime.LockOSThread()
	if unix.Gettid() != os.Getpid() {
		f()
		return // exits locked: the thread goes with the goroutine
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		onThrowAwayThread(f)
	}()
	<-done
	goruntime.UnlockOSThread()
}

// Existing pins the namespace of kind k that process pid is in at path.
func Existing(k Kind, pid uint32, path string) error {
	if err := createFile(path); err != nil {
		return err
	}
	src := fmt.Sprintf("/proc/%d/ns/%s", pid, k)
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("pin %s namespace of pid %d at %s: %w", k, pid, path, err)
	}
	return nil
}

// Remove unmounts and removes a pin; a missing one is not an error, so it
// is safe to repeat.
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount namespace pin %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove namespace pin %s: %w", path, err)
	}
	return nil
}

// Pinned reports whether a namespace is pinned at path.
func Pinned(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// Enter moves the calling thread into the namespace pinned at path; only
// for New's inside, whose thread is discarded afterwards.
func Enter(k Kind, path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s namespace %s: %w", k, path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, cloneFlags[k]); err != nil {
		return fmt.Errorf("enter %s namespace %s: %w", k, path, err)
	}
	return nil
}

// createFile creates the empty file a namespace is bind-mounted on (in a
// directory the caller made); it fails if the file exists.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace pin: %w", err)
	}
	return f.Close()
}

func removeAll(pins []Pin) {
	for _, p := range pins {
		Remove(p.Path)
	}
}
