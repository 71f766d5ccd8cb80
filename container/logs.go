package container

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
)

// ReopenLog reopens a running container's CRI log file after kubelet
// rotated it (renamed the old one); the new file exists on return.
func (m *Manager) ReopenLog(ctx context.Context, id string) error {
	c, err := m.store.Get(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	state, io := c.status.State, c.io
	c.mu.Unlock()
	if state != StateRunning || io == nil {
		return fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	if io.log == nil {
		return fmt.Errorf("container %s has no log file: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	return io.log.Reopen()
}
