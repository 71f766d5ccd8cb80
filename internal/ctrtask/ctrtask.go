// Package ctrtask creates and deletes containerd tasks with the calls a
// task needs.
//
// The containerd client's Container.NewTask reads the container's record,
// its OCI spec included, three times (the snapshot key, a SELinux mount
// label, the runtime) before it asks for the task: for cricket, which
// knows all of it, that is three spec-sized round trips on every pod and
// container start, CPU in cricketd and containerd alike. containerd's
// task service reads the record itself. Create asks for the rootfs mounts
// and the task, and returns a handle that needs no further call (see
// handle).
package ctrtask

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Create creates the task of ctr, whose rootfs is the snapshot of the
// same key in snapshotter (cricket's layout) with the given mounts (nil:
// asked for), with io as its stdio (nil: none). Runtime and runtime
// options are the container's.
func Create(ctx context.Context, c *client.Client, ctr client.Container, snapshotter string, mounts []mount.Mount, io cio.IO) (client.Task, error) {
	if mounts == nil {
		var err error
		if mounts, err = c.SnapshotService(snapshotter).Mounts(ctx, ctr.ID()); err != nil {
			return nil, err
		}
	}
	req := &tasks.CreateTaskRequest{ContainerID: ctr.ID()}
	if io != nil {
		cfg := io.Config()
		req.Terminal, req.Stdin, req.Stdout, req.Stderr = cfg.Terminal, cfg.Stdin, cfg.Stdout, cfg.Stderr
	}
	for _, m := range mounts {
		req.Rootfs = append(req.Rootfs, &types.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	resp, err := c.TaskService().Create(ctx, req)
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	return newHandle(c.TaskService(), ctr, resp.Pid, io), nil
}

// Delete deletes the exited task of containerd container id by ID, in one
// call: no kill (killing an exited task only makes the shim run the OCI
// runtime once more) and none of the client's lookups first; containerd
// refuses to delete a task that still runs. A missing task is an errdefs
// NotFound error.
//
// It also cleans up what containerd still lists of a task the shim no
// longer knows (a deletion cut off by a crash of cricketd: only another
// delete lets the shim exit) or whose shim is gone. containerd then
// reports an error although it cleaned up, so a failed delete is tried
// once more: a task that is gone now was deleted.
func Delete(ctx context.Context, ts tasks.TasksClient, id string) error {
	_, err := ts.Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: id})
	if err != nil && status.Code(err) != codes.NotFound && ctx.Err() == nil {
		if _, again := ts.Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: id}); status.Code(again) == codes.NotFound {
			err = again
		}
	}
	if status.Code(err) == codes.NotFound {
		return fmt.Errorf("task of container %s: %w", id, errdefs.ErrNotFound)
	}
	return err
}
