package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/internal/mounts"
	"github.com/cricket-cri/cricket/internal/shimproc"
	"github.com/cricket-cri/cricket/spec"
)

// Recover rebuilds the sandbox store from the checkpoints under the root
// dir before cricketd serves. A sandbox whose creation was interrupted is
// rolled back; a sandbox whose pause process is gone (it died, or the host
// rebooted) is NOTREADY, and its recorded CNI attachment is still released
// by StopPodSandbox. Network namespaces and pause containers that no
// checkpoint owns are removed.
func (m *Manager) Recover(ctx context.Context) error {
	ctx = m.ctx(ctx)
	recs, err := checkpoint.ReadDir[record](filepath.Join(m.opts.Root, "sandboxes"), func(path string, err error) {
		m.opts.Log.Error("unreadable sandbox checkpoint; removing it", "path", path, "error", err)
	})
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, rec := range recs {
		sb, err := rec.Value.sandbox(m.checkpointPath(rec.Value.ID))
		if err != nil {
			m.opts.Log.Error("undecodable sandbox checkpoint; removing it", "path", rec.Path, "error", err)
			os.Remove(rec.Path)
			continue
		}
		if rec.Value.Creating {
			m.rollback(ctx, sb)
			continue
		}
		m.restore(ctx, sb)
		known[sb.ID] = true
	}
	m.removeOrphans(ctx, known)
	m.killOrphanShims(ctx, known)
	m.removeOrphanDirs(known)
	return nil
}

// removeOrphanDirs removes the volatile directories of sandboxes that no
// checkpoint owns, with what is mounted in them (a pinned pod's namespace
// pins, a pod's /dev/shm): a rollback or removal whose file clean-up
// failed dropped the checkpoint anyway, and an unreadable checkpoint is
// removed, so nothing else would ever release them. A directory that
// keeps a mount is left for the next start.
func (m *Manager) removeOrphanDirs(known map[string]bool) {
	base := filepath.Join(m.opts.State, "sandboxes")
	ents, err := os.ReadDir(base)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.opts.Log.Error("list sandbox directories for orphan check", "error", err)
		}
		return
	}
	for _, e := range ents {
		if !e.IsDir() || known[e.Name()] {
			continue
		}
		dir := filepath.Join(base, e.Name())
		m.opts.Log.Warn("removing sandbox directory without a sandbox", "path", dir)
		mounts.UnmountUnder(dir)
		if left := mounts.Under(dir); len(left) > 0 {
			m.opts.Log.Error("sandbox directory without a sandbox keeps mounts", "path", dir, "mounts", left)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			m.opts.Log.Error("remove sandbox directory without a sandbox", "path", dir, "error", err)
		}
	}
}

// rollback undoes a creation interrupted by a crash.
func (m *Manager) rollback(ctx context.Context, sb *Sandbox) {
	m.opts.Log.Warn("rolling back sandbox creation interrupted by a restart", "sandbox", sb.ID)
	errs := []error{m.controllerOf(sb).Delete(ctx, sb)}
	// A pause task whose creation was cut off may have left its shim and
	// cgroup behind, unknown to containerd.
	m.killSandboxShims(sb.ID)
	m.removeDeadShimSocket(sb)
	// A shim killed while creating the pause task leaves that task's
	// runtime state, which containerd does not ask the shim's delete
	// command to remove.
	if err := shimproc.RemoveState(m.opts.Namespace, sb.ID); err != nil {
		m.opts.Log.Warn("remove runtime state of the pause task", "sandbox", sb.ID, "error", err)
	}
	removeCgroup(spec.CgroupFSPath(m.CgroupsPath(sb, sb.ID)))
	if !sb.HostNetwork() {
		// CNI DEL is safe when ADD never ran or ran half way.
		if err := m.network.Detach(ctx, m.networkPod(sb)); err != nil && !errdefs.IsFailedPrecondition(err) {
			errs = append(errs, err)
		}
		errs = append(errs, m.network.RemoveNetNS(sb.NetNSPath))
	}
	errs = append(errs, removeFiles(sb), sb.removeCheckpoint())
	if err := errors.Join(errs...); err != nil {
		m.opts.Log.Error("rollback of interrupted sandbox incomplete", "sandbox", sb.ID, "error", err)
	}
}

// restore puts a checkpointed sandbox back into the store with its current
// state.
func (m *Manager) restore(ctx context.Context, sb *Sandbox) {
	if sb.Runtime.Type == "" {
		// A checkpoint written before pods recorded their runtime: the
		// handler as configured now is the best guess of it.
		if rt, err := m.ResolveRuntime(sb.RuntimeHandler); err == nil {
			sb.Runtime = rt
		} else {
			m.opts.Log.Warn("sandbox's runtime handler is not configured; its containers keep running but it gets no new ones", "sandbox", sb.ID, "error", err)
		}
	}
	running, err := m.controllerOf(sb).Running(ctx, sb)
	if err != nil {
		m.opts.Log.Warn("cannot tell whether sandbox is running; reporting it NOTREADY", "sandbox", sb.ID, "error", err)
	}
	if !running {
		if err := sb.update(checkpoint.Happened, func(s *Status) bool {
			if s.State != StateReady {
				return false
			}
			s.State = StateNotReady
			return true
		}); err != nil {
			m.opts.Log.Error("checkpoint sandbox", "sandbox", sb.ID, "error", err)
		}
	}
	if err := m.names.Reserve(sb.Name(), sb.ID); err != nil {
		m.opts.Log.Error("two sandboxes claim one name", "sandbox", sb.ID, "error", err)
	}
	sb.listCharge = m.opts.ListBudget.Take(listedSize(sb))
	m.store.Add(sb)
}

// removeOrphans deletes pause containers and network namespaces that no
// sandbox owns: leftovers of crashes between a side effect and its record.
func (m *Manager) removeOrphans(ctx context.Context, known map[string]bool) {
	ctrs, err := m.client.Containers(ctx, fmt.Sprintf("labels.%q==%q", LabelKind, KindSandbox))
	if err != nil {
		m.opts.Log.Warn("list pause containers for orphan check", "error", err)
	} else {
		for _, c := range ctrs {
			if !known[c.ID()] {
				m.opts.Log.Warn("removing pause container without a sandbox", "id", c.ID())
				if err := m.pause.Delete(ctx, &Sandbox{Metadata: Metadata{ID: c.ID()}}); err != nil {
					m.opts.Log.Error("remove orphan pause container", "id", c.ID(), "error", err)
				}
			}
		}
	}
	inUse := map[string]bool{}
	for id := range known {
		inUse[m.network.NetNSPath(id)] = true
	}
	if err := m.network.Collect(ctx, known); err != nil {
		m.opts.Log.Error("release network resources without a sandbox", "error", err)
	}
	for _, p := range m.network.OrphanNetNS(inUse) {
		m.opts.Log.Warn("removing network namespace without a sandbox", "path", p)
		if err := m.network.RemoveNetNS(p); err != nil {
			m.opts.Log.Error("remove orphan network namespace", "path", p, "error", err)
		}
	}
}
