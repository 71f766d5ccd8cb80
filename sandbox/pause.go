package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/ctrtask"
	"github.com/cricket-cri/cricket/internal/lease"
	"github.com/cricket-cri/cricket/internal/steps"
	"github.com/cricket-cri/cricket/internal/taskerr"
	"github.com/cricket-cri/cricket/spec"
)

// pauseController runs a sandbox as a pause container: a containerd
// container and task from the sandbox image, in a shim that the pod's
// containers will share.
type pauseController struct{ m *Manager }

// stopTimeout bounds waiting for a killed task to exit.
const stopTimeout = 30 * time.Second

func (p *pauseController) Create(ctx context.Context, sb *Sandbox, img *image.Image) (_ uint32, retErr error) {
	m := p.m
	rt := sb.Runtime
	specOpts, err := spec.Sandbox(spec.SandboxInput{
		ID:        sb.ID,
		Config:    sb.Config,
		Image:     img.Config.Config,
		NetNSPath: sb.NetNSPath,
		// A pod in its own user namespace gets a network namespace that
		// the pause container creates (see create).
		NewNetNS:    sb.UserNS() != nil && !sb.HostNetwork(),
		UserNS:      sb.SpecUserNS(),
		CgroupsPath: m.CgroupsPath(sb, sb.ID),
		OOMScoreAdj: m.opts.OOM.Adjust(-998),
		ShmPath:     map[bool]string{true: "", false: sb.ShmPath()}[sb.HostIPC()],
	})
	if err != nil {
		return 0, err
	}
	var rootfs []mount.Mount
	snapshot := WithSnapshot(m.opts.Snapshotter, sb.ID, img.ChainID, img.RepoTagOrID(), &rootfs)
	if u := sb.UserNS(); u != nil {
		snapshot = WithRemappedSnapshot(m.opts.Snapshotter, sb.ID, img.ChainID, img.RepoTagOrID(), u)
		// The remapped copy of the image is made unreferenced first: the
		// lease keeps it from the garbage collector until the record
		// references it (WithSnapshot's root label does this otherwise).
		lctx, done, err := lease.With(ctx, m.client)
		if err != nil {
			return 0, err
		}
		defer lease.Done(done, &retErr)
		ctx = lctx
	}
	t := steps.Start("pause-create")
	defer t.Done(m.opts.Log, "sandbox", sb.ID)
	if m.spawnPauseShim(sb, rt) {
		defer func() {
			if retErr != nil {
				// No task of the pod reached it, or the one that did
				// failed: nothing keeps it.
				m.killSandboxShims(sb.ID)
			}
		}()
	}
	t.Step("shim")
	var storedSpec []byte
	ctr, err := lease.NewContainer(ctx, m.client, sb.ID,
		snapshot,
		client.WithRuntime(rt.Type, rt.Options),
		client.WithNewSpec(specOpts...),
		func(_ context.Context, _ *client.Client, c *containers.Container) error {
			storedSpec = c.Spec.GetValue() // the JSON sent to containerd
			return nil
		},
		client.WithContainerLabels(ContainerdLabels(KindSandbox, sb.ID, sb.Config.GetLabels())),
	)
	if err != nil {
		return 0, fmt.Errorf("create pause container for sandbox %s: %w", sb.ID, err)
	}
	t.Step("container")
	task, err := ctrtask.Create(ctx, m.client, ctr, m.opts.Snapshotter, rootfs, nil)
	if err != nil {
		return 0, fmt.Errorf("create pause task for sandbox %s: %w", sb.ID, taskerr.Create(err))
	}
	sb.mu.Lock()
	sb.pauseTask, sb.pauseOwned, sb.pauseSpec = task, true, storedSpec
	sb.mu.Unlock()
	t.Step("task")
	return task.Pid(), nil
}

func (p *pauseController) Start(ctx context.Context, sb *Sandbox) error {
	task, err := p.task(ctx, sb)
	if err == nil && task == nil {
		err = fmt.Errorf("no pause task: %w", errdefs.ErrNotFound)
	}
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		return fmt.Errorf("start pause task for sandbox %s: %w", sb.ID, err)
	}
	return nil
}

func (p *pauseController) Stop(ctx context.Context, sb *Sandbox) error {
	task, err := p.task(ctx, sb)
	if err != nil || task == nil {
		return err
	}
	return killAndWait(ctx, task, "pause task of sandbox "+sb.ID)
}

func (p *pauseController) Delete(ctx context.Context, sb *Sandbox) error {
	sb.mu.Lock()
	owned := sb.pauseOwned
	sb.mu.Unlock()
	task, err := p.task(ctx, sb)
	if err != nil && !taskerr.Gone(err) {
		return fmt.Errorf("load pause task of sandbox %s: %w", sb.ID, taskerr.Classify(err))
	}
	if task != nil {
		_, err := task.Delete(ctx, client.WithProcessKill)
		if taskerr.Gone(err) && !errdefs.IsNotFound(err) {
			// The shim connection closed under the kill or the
			// deletion (another deletion finished first, or the shim
			// died): Release deletes by ID, and tells whether containerd
			// still has the task.
			err = p.Release(ctx, sb)
		}
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete pause task of sandbox %s: %w", sb.ID, taskerr.Classify(err))
		}
	}
	sb.mu.Lock()
	sb.pauseTask, sb.pauseReleased = nil, true
	sb.mu.Unlock()
	if owned {
		// Created by this cricketd: the snapshot is the configured
		// snapshotter's, named by the sandbox ID; no need to read the
		// container's record (its spec) to find it.
		if err := p.m.client.SnapshotService(p.m.opts.Snapshotter).Remove(ctx, sb.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove pause snapshot of sandbox %s: %w", sb.ID, err)
		}
		if err := p.m.client.ContainerService().Delete(ctx, sb.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete pause container of sandbox %s: %w", sb.ID, err)
		}
		return nil
	}
	ctr, err := p.m.client.LoadContainer(ctx, sb.ID)
	if errdefs.IsNotFound(err) {
		// A creation cut off before the record (by a failure or a
		// crash) may have prepared the snapshot, a root of its own
		// (see WithSnapshot): it goes by its key.
		if err := p.m.client.SnapshotService(p.m.opts.Snapshotter).Remove(ctx, sb.ID); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove pause snapshot of sandbox %s: %w", sb.ID, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("load pause container of sandbox %s: %w", sb.ID, err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete pause container of sandbox %s: %w", sb.ID, err)
	}
	return nil
}

// task returns the pause container's task (the handle kept from its
// creation, else loaded), or nil if there is none.
func (p *pauseController) task(ctx context.Context, sb *Sandbox) (client.Task, error) {
	sb.mu.Lock()
	task, released := sb.pauseTask, sb.pauseReleased
	sb.mu.Unlock()
	if task != nil || released {
		return task, nil
	}
	ctr, err := p.m.client.LoadContainer(ctx, sb.ID)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	task, err = ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	return task, err
}

// killAndWait SIGKILLs a task's process and waits (bounded) for it to exit.
func killAndWait(ctx context.Context, task client.Task, what string) error {
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	exited, err := task.Wait(ctx)
	if taskerr.Gone(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("wait for %s: %w", what, taskerr.Classify(err))
	}
	// A kill that loses its race with the exit (the task is gone, or the
	// shim connection closed) has nothing left to do; the wait ends too.
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !taskerr.Gone(err) {
		return fmt.Errorf("kill %s: %w", what, taskerr.Classify(err))
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s did not exit after SIGKILL: %w", what, ctx.Err())
	}
}

// WithSnapshot gives a new container a writable snapshot on the image's
// top layer. It uses the image's chain ID directly, saving the image
// lookups that client.WithNewSnapshot makes. The snapshot's mounts are
// kept in rootfs (if not nil): the task's creation needs no call for them.
//
// The snapshot is a garbage collection root of its own (RootLabel), so
// that it survives the moment before the container's record references
// it without an operation lease: a lease is two more containerd calls and
// two more database commits for every pod and container. The root is
// removed by key with its container, and after a crash by recovery (which
// removes it by key even when containerd has no record of the container).
func WithSnapshot(snapshotter, key, chainID, imageName string, rootfs *[]mount.Mount) client.NewContainerOpts {
	return func(ctx context.Context, c *client.Client, ctr *containers.Container) error {
		ms, err := c.SnapshotService(snapshotter).Prepare(ctx, key, chainID, snapshots.WithLabels(RootLabel()))
		if err != nil {
			return fmt.Errorf("prepare snapshot %s on %s: %w", key, chainID, err)
		}
		if rootfs != nil {
			*rootfs = ms
		}
		ctr.Snapshotter, ctr.SnapshotKey, ctr.Image = snapshotter, key, imageName
		return nil
	}
}

// RootLabel marks a snapshot as a root for containerd's garbage collector
// (the value is when; containerd reads only the key).
func RootLabel() map[string]string {
	return map[string]string{"containerd.io/gc.root": time.Now().UTC().Format(time.RFC3339)}
}

func (p *pauseController) Running(ctx context.Context, sb *Sandbox) (bool, error) {
	task, err := p.task(ctx, sb)
	if err != nil || task == nil {
		return false, err
	}
	st, err := task.Status(ctx)
	if taskerr.Gone(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.Status == client.Running || st.Status == client.Paused || st.Status == client.Pausing, nil
}

// Spec returns the pause container's spec as containerd stores it: kept
// from its creation, else read once (one round trip) and kept; it never
// changes.
func (p *pauseController) Spec(ctx context.Context, sb *Sandbox) (json.RawMessage, error) {
	sb.mu.Lock()
	s := sb.pauseSpec
	sb.mu.Unlock()
	if s != nil {
		return s, nil
	}
	c, err := p.m.client.ContainerService().Get(ctx, sb.ID)
	if err != nil {
		return nil, err
	}
	if c.Spec == nil {
		return nil, fmt.Errorf("pause container of sandbox %s has no spec: %w", sb.ID, errdefs.ErrNotFound)
	}
	s = c.Spec.GetValue()
	sb.mu.Lock()
	sb.pauseSpec = s
	sb.mu.Unlock()
	return s, nil
}
