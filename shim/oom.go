package shim

import (
	"context"
	"log/slog"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/containerd/v2/pkg/oom"
	oomv1 "github.com/containerd/containerd/v2/pkg/oom/v1"
	oomv2 "github.com/containerd/containerd/v2/pkg/oom/v2"

	"github.com/cricket-cri/cricket/internal/cgroup"
)

// oomWatcher publishes TaskOOM when the kernel's OOM killer kills a
// process of a container's cgroup, as containerd's runc shim does (cgroup
// v1: the memory controller's eventfd; v2: memory.events).
type oomWatcher struct {
	w   oom.Watcher
	v2  bool
	log *slog.Logger
}

func newOOMWatcher(ctx context.Context, pub publisher, log *slog.Logger) oomWatcher {
	v2 := cgroup.Unified()
	var w oom.Watcher
	var err error
	if v2 {
		w, err = oomv2.New(pub)
	} else {
		w, err = oomv1.New(pub)
	}
	if err != nil {
		log.Warn("no OOM events", "error", err)
		return oomWatcher{log: log}
	}
	go w.Run(ctx)
	return oomWatcher{w: w, v2: v2, log: log}
}

// add watches the cgroup of a container's init.
func (o oomWatcher) add(id string, pid int) {
	if o.w == nil {
		return
	}
	// Only the memory controller: a host may lack others (this host's v1
	// hierarchy has no hugetlb) without that mattering.
	cg, err := cgroup.LoadPID(pid, cgroup1.Memory)
	if err == nil {
		err = o.w.Add(id, cg.Handle())
	}
	if err != nil {
		o.log.Warn("no OOM events for container", "container", id, "error", err)
	}
}
