package cgroup

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Kill sends sig to every process of the cgroup at path in any of the
// host's hierarchies (a cgroup runc left behind may hold a process in one
// and not another).
func Kill(path string, sig syscall.Signal) error { return Host().Kill(path, sig) }

// Kill sends sig to every process of the cgroup at path in h.
func (h Hierarchy) Kill(path string, sig syscall.Signal) error {
	dirs, err := h.Dirs(path)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		pids, err := readIDs(filepath.Join(d, "cgroup.procs"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Remove removes the cgroup at path from every hierarchy of the host and
// returns the directories that stay (they hold a process or a child
// cgroup). A cgroup that is not there counts as removed.
func Remove(path string) (left []string, err error) { return Host().Remove(path) }

// Remove removes the cgroup at path from every hierarchy of h.
func (h Hierarchy) Remove(path string) (left []string, err error) {
	if path == "" || path == "/" {
		return nil, errors.New("no cgroup path")
	}
	dirs, err := h.Dirs(path)
	if err != nil {
		return nil, err
	}
	return rmdirs(dirs), nil
}

// RemoveTree removes the cgroup at path and every cgroup below it from
// every hierarchy of the host, deepest first, and returns the directories
// that stay (they hold a process).
func RemoveTree(path string) (left []string, err error) { return Host().RemoveTree(path) }

// RemoveTree removes the cgroup at path and those below it from every
// hierarchy of h. A directory that cannot be walked is an error.
func (h Hierarchy) RemoveTree(path string) (left []string, err error) {
	if path == "" || path == "/" {
		return nil, errors.New("no cgroup path")
	}
	tops, err := h.Dirs(path)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, top := range tops {
		err := filepath.WalkDir(top, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if p == top && errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Children before their parents.
	slices.SortStableFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return rmdirs(dirs), nil
}

// rmdirs removes each directory (a cgroup: rmdir, never its files) and
// returns those that stay.
func rmdirs(dirs []string) (left []string) {
	for _, d := range dirs {
		err := syscall.Rmdir(d)
		// ENOTDIR: a path through a file names no cgroup.
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			left = append(left, d)
		}
	}
	return left
}
