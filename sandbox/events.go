package sandbox

import (
	"context"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/internal/checkpoint"
)

// HandleExit marks a sandbox NOTREADY when its pause process exits.
func (m *Manager) HandleExit(e events.Exit) {
	if e.ExecID != "" && e.ExecID != e.ContainerID {
		return
	}
	sb, err := m.store.Get(e.ContainerID)
	if err != nil || sb.ID != e.ContainerID {
		return
	}
	expected := sb.Stopping()
	// A stop writes the checkpoint when it is done (the exit with it);
	// had it failed first, the next stop, or recovery after a crash,
	// writes the state containerd then shows.
	how := checkpoint.Happened
	if expected {
		how = checkpoint.Deferred
	}
	changed := false
	err = sb.update(how, func(s *Status) bool {
		changed = s.State == StateReady
		s.State, s.ExitedAt = StateNotReady, e.At
		return changed
	})
	if !changed {
		// Not ready already (a stop, which writes the checkpoint when
		// done): the time is kept for that write.
		sb.update(checkpoint.Deferred, func(s *Status) bool { s.ExitedAt = e.At; return true })
		return
	}
	m.opts.Events.Publish(events.Lifecycle{ID: sb.ID, SandboxID: sb.ID, Kind: events.Stopped, Object: sb})
	if expected {
		m.opts.Log.Debug("pause process of a stopping sandbox exited", "sandbox", sb.ID, "status", e.Status)
	} else {
		m.opts.Log.Warn("pause process of sandbox exited", "sandbox", sb.ID, "status", e.Status)
	}
	if err != nil {
		m.opts.Log.Error("checkpoint sandbox", "sandbox", sb.ID, "error", err)
	}
}

// HandleOOM: sandboxes have nothing to record for OOM kills.
func (m *Manager) HandleOOM(string) {}

// Resync re-reads each ready sandbox's task state after missed events.
func (m *Manager) Resync(ctx context.Context) {
	ctx = m.ctx(ctx)
	for _, sb := range m.store.List(nil) {
		if sb.Status().State != StateReady {
			continue
		}
		if ok, err := m.controllerOf(sb).Running(ctx, sb); err == nil && !ok {
			m.HandleExit(events.Exit{ContainerID: sb.ID})
		}
	}
}
