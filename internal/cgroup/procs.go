package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Procs lists the processes (thread group leaders) of the cgroup at path,
// from cgroup.procs of its pids controller directory (its only directory
// on a unified host). Exited processes are not listed.
func Procs(path string) ([]int, error) { return Host().Procs(path) }

// Procs lists the processes of the cgroup at path in h.
func (h Hierarchy) Procs(path string) ([]int, error) {
	return readIDs(filepath.Join(h.Dir("pids", path), "cgroup.procs"))
}

// Empty reports whether the cgroup at path holds no process; an error
// when it cannot tell (the cgroup is gone, or path is empty).
func Empty(path string) (bool, error) { return Host().Empty(path) }

// Empty reports whether the cgroup at path in h holds no process.
func (h Hierarchy) Empty(path string) (bool, error) {
	if path == "" {
		return false, errors.New("no cgroup path")
	}
	pids, err := h.Procs(path)
	return err == nil && len(pids) == 0, err
}

// Threads counts the threads of the cgroup at path: the tasks file of its
// v1 pids directory, pids.current on a unified host (v2 has no tasks file
// in a domain cgroup).
func Threads(path string) (uint64, error) { return Host().Threads(path) }

// Threads counts the threads of the cgroup at path in h.
func (h Hierarchy) Threads(path string) (uint64, error) {
	dir := h.Dir("pids", path)
	if h.Unified() {
		b, err := os.ReadFile(filepath.Join(dir, "pids.current"))
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	ids, err := readIDs(filepath.Join(dir, "tasks"))
	return uint64(len(ids)), err
}

// PIDsMax is the pids controller's limit of the cgroup at path, 0 when it
// has none ("max").
func PIDsMax(path string) (uint64, error) { return Host().PIDsMax(path) }

// PIDsMax is the pids limit of the cgroup at path in h.
func (h Hierarchy) PIDsMax(path string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(h.Dir("pids", path), "pids.max"))
	if err != nil {
		return 0, err
	}
	return parseLimit(string(b))
}

// parseLimit reads a cgroup limit file's value: a number, or "max" for
// none (0).
func parseLimit(text string) (uint64, error) {
	v := strings.TrimSpace(text)
	if v == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("limit %q: not a number or max", v)
	}
	return n, nil
}

// readIDs reads a cgroup.procs or tasks file: one ID a line.
func readIDs(file string) ([]int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseIDs(string(b))
}

// parseIDs parses the text of a cgroup.procs or tasks file.
func parseIDs(text string) ([]int, error) {
	var ids []int
	for _, f := range strings.Fields(text) {
		id, err := strconv.Atoi(f)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("process list: %q is not a process ID", f)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
