package sandbox

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Release deletes the pause task once Stop has seen its process exit, so
// that the pod's shim can exit with it; the pause container and its
// snapshot stay until Delete. Releasing a sandbox without a task succeeds.
//
// The task is deleted by ID, in one call: no kill (the process has exited,
// and killing an exited task only makes the shim run the OCI runtime once
// more), and no lookup first; containerd refuses to delete a task that
// still runs. Deleting by ID also cleans up what containerd still lists of
// a task the shim no longer knows (a deletion cut off by a crash of
// cricketd: only another delete lets the shim exit) or whose shim is gone.
// containerd then reports an error although it cleaned up, so a failed
// delete is tried once more: a task that is gone now was deleted.
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
	ts := p.m.client.TaskService()
	_, err := ts.Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: sb.ID})
	if err != nil && status.Code(err) != codes.NotFound && ctx.Err() == nil {
		if _, again := ts.Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: sb.ID}); status.Code(again) == codes.NotFound {
			err = nil
		}
	}
	if err != nil && status.Code(err) != codes.NotFound {
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
