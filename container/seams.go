package container

import (
	"context"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/nri/pkg/api"

	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/ctrtask"
	"github.com/cricket-cri/cricket/internal/lease"
	"github.com/cricket-cri/cricket/sandbox"
)

// The Manager reaches its collaborators through narrow interfaces, so that
// unit tests can run a container's life cycle on fakes:
//
//   - imageGetter and pods are what it uses of image.Service and
//     sandbox.Manager; New takes those.
//   - containerdOps is the part of containerd's client that creation (and
//     its undo), start, stop, exit handling and removal use: seven calls,
//     each one a containerd round trip. client.Container and client.Task
//     handles come back from them, and the fakes implement the few methods
//     of those that these paths call. The rest of the package (recovery,
//     exec, streaming, stats, image mounts) still uses the client itself:
//     the integration tests cover it, and a fake of all of it would be a
//     fake containerd.
//   - The options NewContainer applies (the snapshot, the spec, NRI's
//     adjustments) need the real client: the fake's newContainer does not
//     run them, but prepares a snapshot and can fail before or after it.
//   - The steps that are cricket's own (checkpoints, mounts, namespaces)
//     fail in the tests through failpoint: a test sets Manager.failAt,
//     and create asks it after each step whether to fail there.
//
// Together these reach every exit of create's undo stack (see
// create_test.go).

// imageGetter is what containers use of the image service; *image.Service
// implements it.
type imageGetter interface {
	Get(ctx context.Context, ref string) (*image.Image, error)
	SnapshotterRoot(ctx context.Context) string
}

// pods is what containers use of the sandboxes; *sandbox.Manager
// implements it.
type pods interface {
	Get(id string) (*sandbox.Sandbox, error)
	List() []*sandbox.Sandbox
	Features(rt sandbox.Runtime) sandbox.Features
	CgroupsPath(sb *sandbox.Sandbox, id string) string
	NRIPod(sb *sandbox.Sandbox) *api.PodSandbox
}

// containerdOps is what a container's creation, start, stop, exit and
// removal ask of containerd; clientOps implements it with the client.
type containerdOps interface {
	// lease returns ctx holding a new operation lease and the function
	// that ends it (see package lease).
	lease(ctx context.Context) (context.Context, func(), error)
	newContainer(ctx context.Context, id string, opts ...client.NewContainerOpts) (client.Container, error)
	loadContainer(ctx context.Context, id string) (client.Container, error)
	// newTask creates ctr's task on its snapshot's mounts (see
	// ctrtask.Create).
	newTask(ctx context.Context, ctr client.Container, snapshotter string, rootfs []mount.Mount, io cio.IO) (client.Task, error)
	// deleteTask deletes container id's exited task by ID (see
	// ctrtask.Delete); a missing task is an errdefs NotFound error.
	deleteTask(ctx context.Context, id string) error
	removeSnapshot(ctx context.Context, snapshotter, key string) error
	// deleteRecord deletes containerd's record of container id, not its
	// snapshot.
	deleteRecord(ctx context.Context, id string) error
}

// clientOps is containerdOps on containerd's client.
type clientOps struct{ c *client.Client }

func (o clientOps) lease(ctx context.Context) (context.Context, func(), error) {
	return lease.With(ctx, o.c)
}

func (o clientOps) newContainer(ctx context.Context, id string, opts ...client.NewContainerOpts) (client.Container, error) {
	return lease.NewContainer(ctx, o.c, id, opts...)
}

func (o clientOps) loadContainer(ctx context.Context, id string) (client.Container, error) {
	return o.c.LoadContainer(ctx, id)
}

func (o clientOps) newTask(ctx context.Context, ctr client.Container, snapshotter string, rootfs []mount.Mount, io cio.IO) (client.Task, error) {
	return ctrtask.Create(ctx, o.c, ctr, snapshotter, rootfs, io)
}

func (o clientOps) deleteTask(ctx context.Context, id string) error {
	return ctrtask.Delete(ctx, o.c.TaskService(), id)
}

func (o clientOps) removeSnapshot(ctx context.Context, snapshotter, key string) error {
	return o.c.SnapshotService(snapshotter).Remove(ctx, key)
}

func (o clientOps) deleteRecord(ctx context.Context, id string) error {
	return o.c.ContainerService().Delete(ctx, id)
}

// failpoint returns the error a unit test injects after the named step of
// a creation (see failAt); always nil outside tests.
func (m *Manager) failpoint(step string) error {
	if m.failAt == nil {
		return nil
	}
	return m.failAt(step)
}
