// Package ctrtask creates containerd tasks with the calls a task needs.
//
// The containerd client's Container.NewTask reads the container's record,
// its OCI spec included, three times (the snapshot key, a SELinux mount
// label, the runtime) before it asks for the task: for cricket, which
// knows all of it, that is three spec-sized round trips on every pod and
// container start, CPU in cricketd and containerd alike. containerd's
// task service reads the record itself. Create asks for the rootfs mounts
// and the task, then takes the client's handle for it.
package ctrtask

import (
	"context"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs/pkg/errgrpc"
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
	if _, err := c.TaskService().Create(ctx, req); err != nil {
		return nil, errgrpc.ToNative(err)
	}
	var attach cio.Attach
	if io != nil {
		attach = func(*cio.FIFOSet) (cio.IO, error) { return io, nil }
	}
	return ctr.Task(ctx, attach)
}
