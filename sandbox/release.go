package sandbox

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/internal/ctrtask"
)

// Release deletes the pause task once Stop has seen its process exit, so
// that the pod's shim can exit with it; the pause container and its
// snapshot stay until Delete. Releasing a sandbox without a task succeeds.
//
// The task is deleted by ID, in one call (see ctrtask.Delete), which also
// cleans up what containerd still lists of a task whose shim is gone.
func (p *pauseController) Release(ctx context.Context, sb *Sandbox) (retErr error) {
	// The handle kept from the creation goes with the task.
	sb.mu.Lock()
	sb.pauseTask = nil
	sb.mu.Unlock()
	defer func() {
		if retErr == nil {
			sb.mu.Lock()
			sb.pauseReleased = true
			sb.mu.Unlock()
		}
	}()
	err := ctrtask.Delete(ctx, p.m.client.TaskService(), sb.ID)
	if err != nil && !errdefs.IsNotFound(err) {
		if task, terr := p.task(ctx, sb); terr == nil && task == nil {
			// What is left containerd cannot clean up; it has no task
			// to show either, and Delete removes the container.
			p.m.opts.Log.Warn("delete pause task", "sandbox", sb.ID, "error", err)
			return nil
		}
		return fmt.Errorf("delete pause task of sandbox %s: %w", sb.ID, err)
	}
	return nil
}
