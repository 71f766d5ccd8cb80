package cgroup

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// ErrGone is returned for a cgroup that no longer exists.
var ErrGone = errors.New("cgroup is gone")

// Cgroup is a cgroup of the host loaded through containerd's cgroups
// package: V1 on a v1 or hybrid host (the controllers asked for that are
// mounted), V2 on a unified one.
type Cgroup struct {
	V1 cgroup1.Cgroup
	V2 *cgroup2.Manager
}

// Load loads the host's cgroup at path. On a v1 or hybrid host only the
// named v1 controllers are loaded (every mounted one when none is named),
// so that a controller the host lacks, or one irrelevant to the caller,
// does not fail the load. A cgroup that does not exist is ErrGone.
func Load(path string, v1 ...cgroup1.Name) (Cgroup, error) {
	if Unified() {
		m, err := cgroup2.Load(path)
		if err != nil {
			return Cgroup{}, fmt.Errorf("load cgroup %s: %w", path, err)
		}
		if _, err := os.Stat(Host().Dir("", path)); err != nil {
			return Cgroup{}, fmt.Errorf("%w: %s: %v", ErrGone, path, err)
		}
		return Cgroup{V2: m}, nil
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(v1Controllers(v1)))
	if err != nil {
		return Cgroup{}, fmt.Errorf("%w: %s: %v", ErrGone, path, err)
	}
	return Cgroup{V1: cg}, nil
}

// LoadPID loads the cgroup of process pid as Load does (on v1, its cgroup
// in each controller's hierarchy).
func LoadPID(pid int, v1 ...cgroup1.Name) (Cgroup, error) {
	if Unified() {
		path, err := cgroup2.PidGroupPath(pid)
		if err != nil {
			return Cgroup{}, fmt.Errorf("cgroup of process %d: %w", pid, err)
		}
		return Load(path)
	}
	cg, err := cgroup1.Load(cgroup1.PidPath(pid), cgroup1.WithHierarchy(v1Controllers(v1)))
	if err != nil {
		return Cgroup{}, fmt.Errorf("cgroup of process %d: %w", pid, err)
	}
	return Cgroup{V1: cg}, nil
}

// Handle is what containerd's cgroup helpers (its OOM watchers) take:
// the cgroup1.Cgroup or the *cgroup2.Manager.
func (c Cgroup) Handle() any {
	if c.V2 != nil {
		return c.V2
	}
	return c.V1
}

// Metrics are a cgroup's figures in containerd's types: V1 from a v1 or
// hybrid host, V2 from a unified one.
type Metrics struct {
	V1 *v1stats.Metrics
	V2 *v2stats.Metrics
}

// Any is the one of V1 and V2 that is set, as containerd's task API
// carries it.
func (m *Metrics) Any() any {
	if m.V2 != nil {
		return m.V2
	}
	return m.V1
}

// Stat reads the cgroup's metrics; on v1, of its loaded controllers,
// whose files a kernel may lack (skipped). A cgroup v2 whose files cannot
// be read has gone (ErrGone).
func (c Cgroup) Stat() (*Metrics, error) {
	if c.V2 != nil {
		st, err := c.V2.Stat()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrGone, err)
		}
		return &Metrics{V2: st}, nil
	}
	if c.V1 == nil {
		return nil, errors.New("no cgroup loaded")
	}
	st, err := c.V1.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, err
	}
	return &Metrics{V1: st}, nil
}

// v1Controllers loads the mounted v1 controllers among names (all of them
// when names is empty): cgroup1.Default leaves out those not mounted.
func v1Controllers(names []cgroup1.Name) cgroup1.Hierarchy {
	return func() ([]cgroup1.Subsystem, error) {
		all, err := cgroup1.Default()
		if err != nil || len(names) == 0 {
			return all, err
		}
		return slices.DeleteFunc(all, func(s cgroup1.Subsystem) bool { return !slices.Contains(names, s.Name()) }), nil
	}
}
