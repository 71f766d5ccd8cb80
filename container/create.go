package container

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/internal/ids"
	"github.com/cricket-cri/cricket/internal/lease"
	"github.com/cricket-cri/cricket/internal/steps"
	"github.com/cricket-cri/cricket/internal/testhold"
	"github.com/cricket-cri/cricket/internal/undo"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/spec"
)

// Create creates a container in a ready sandbox and returns its ID. Like
// RunPodSandbox, the creation outlives a caller that gives up, and the
// retry receives the container.
func (m *Manager) Create(ctx context.Context, sandboxID string, cfg *runtime.ContainerConfig) (string, error) {
	if err := validate(cfg); err != nil {
		return "", err
	}
	sb, err := m.sandboxes.Get(sandboxID)
	if err != nil {
		return "", err
	}
	if err := spec.CheckPodAllows(cfg.GetLinux().GetSecurityContext(), sb.Config.GetLinux().GetSecurityContext()); err != nil {
		return "", err
	}
	if err := acceptsContainers(sb); err != nil {
		return "", err
	}
	// Before the name is reserved and anything exists: a device that is
	// unknown (or that CDI cannot inject) fails the call with nothing to
	// undo.
	devices, err := m.opts.CDI.Resolve(cfg)
	if err != nil {
		return "", err
	}
	key := nameKey(cfg.GetMetadata(), sb.Name())
	return m.names.Create(m.ctx(ctx), key, ids.New, func(ctx context.Context, id string) error {
		testhold.At(ctx, "CreateContainer")
		return m.create(ctx, id, key, sb, cfg, devices)
	})
}

func (m *Manager) create(ctx context.Context, id, key string, sb *sandbox.Sandbox, cfg *runtime.ContainerConfig, devices *spec.CDIDevices) (retErr error) {
	t := steps.Start("CreateContainer")
	defer t.Done(m.opts.Log, "container", id)
	// A plugin registering now sees the container whole or not at all.
	defer m.opts.NRI.BlockSync()()
	img, err := m.images.Get(ctx, cfg.GetImage().GetImage())
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("image %q is not present; pull it first: %w", cfg.GetImage().GetImage(), errdefs.ErrNotFound)
	}
	if err != nil {
		return err
	}
	c := &Container{
		Metadata: Metadata{
			ID:        id,
			SandboxID: sb.ID,
			Config:    cfg,
			CreatedAt: time.Now(),
			ImageID:   img.ID,
			ImageName: img.RepoTagOrID(),
			ImageRef:  imageRef(img),
			Dir:       filepath.Join(m.opts.State, "containers", id),
			NameKey:   key,
		},
		status: Status{Creating: true, State: StateCreated},
		file:   checkpoint.File{Path: m.checkpointPath(id)},
		exited: make(chan struct{}),
		broker: m.opts.Events,
	}
	if cfg.GetLogPath() != "" && sb.Config.GetLogDirectory() != "" {
		c.LogDir = sb.Config.GetLogDirectory()
		c.LogPath = filepath.Join(c.LogDir, cfg.GetLogPath())
	}
	c.StopSignal, err = stopSignal(cfg, img)
	if err != nil {
		m.opts.Log.Warn("stop signal", "container", id, "error", err)
	}
	t.Step("image")
	var u undo.Stack
	defer func() {
		if retErr != nil {
			u.Run(ctx, func(err error) { m.opts.Log.Error("undo failed container creation", "container", id, "error", err) })
		}
	}()
	// Its share of the list budget before anything exists: a container
	// that would make list, status or event responses too large is refused.
	charge, err := m.opts.ListBudget.Reserve("container "+key, listedSize(c))
	if err != nil {
		return err
	}
	u.Push(func(context.Context) error { charge.Release(); return nil })
	c.listCharge = charge
	if err := m.failpoint("budget"); err != nil {
		return err
	}
	// The checkpoint goes first: if cricketd dies half-way, start-up finds
	// a container still creating and rolls it back.
	if err := c.update(checkpoint.Requested, nil); err != nil {
		return err
	}
	t.Step("checkpoint")
	u.Push(func(context.Context) error { return c.removeCheckpoint() })
	u.Push(func(context.Context) error { return removeContainerDir(c.Dir) })
	if err := m.failpoint("checkpoint"); err != nil {
		return err
	}

	// The pod's own runtime, as it was created: its containers share its
	// shim, whatever a reload did to its handler since.
	rt, err := sandbox.PodRuntime(sb)
	if err != nil {
		return err
	}
	for _, mt := range cfg.GetMounts() {
		if mt.GetRecursiveReadOnly() && !m.sandboxes.Features(rt).RecursiveReadOnlyMounts {
			return fmt.Errorf("mount %q: recursive read-only mounts are not supported by this runtime or kernel: %w", mt.GetContainerPath(), errdefs.ErrInvalidArgument)
		}
	}
	mounts, err := resolveMounts(cfg)
	if err != nil {
		return err
	}
	imageMounts, err := m.resolveImageMounts(ctx, c)
	if err != nil {
		return err
	}
	u.Push(func(ctx context.Context) error { return m.unmountImages(m.ctx(ctx), c) })
	if err := m.failpoint("mounts"); err != nil {
		return err
	}
	nss, err := m.namespaces(sb, cfg)
	if err != nil {
		return err
	}
	if mounts, err = idmapMounts(c.Dir, sb, mounts); err != nil {
		return err
	}
	cgroupsPath := m.sandboxes.CgroupsPath(sb, id)
	c.CgroupPath = spec.CgroupFSPath(cgroupsPath)
	in := spec.ContainerInput{
		ID: id, SandboxID: sb.ID, Config: cfg, Sandbox: sb.Config,
		Image: img.Config.Config, ImageName: c.ImageName, ImageChainID: img.ChainID, Users: &m.users,
		Network: nss[0], IPC: nss[1], UTS: nss[2], PID: nss[3],
		CgroupsPath:    cgroupsPath,
		HostsPath:      sb.HostsPath(),
		ResolvConfPath: sb.ResolvConfPath(),
		HostnamePath:   sb.HostnamePath(),
		ShmPath:        sb.ShmPath(),
		Mounts:         mounts,
		UserNS:         sb.SpecUserNS(),
		UserNSPath:     sb.NamespacePath(specs.UserNamespace),
		OOM:            m.opts.OOM,
		CDI:            devices,
	}
	// A creation that fails once the snapshot is prepared (an image
	// mount whose image_sub_path does not resolve, a spec that cannot be
	// generated) leaves no containerd container whose deletion would take
	// the snapshot along: it is removed by its key (after the container,
	// if there is one), not left for the garbage collection that follows
	// the lease.
	u.Push(func(ctx context.Context) error {
		err := m.ctrd.removeSnapshot(m.ctx(ctx), m.opts.Snapshotter, id)
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	})
	u.Push(func(ctx context.Context) error { return m.deleteContainerd(m.ctx(ctx), id) })
	snapshot := sandbox.WithSnapshot(m.opts.Snapshotter, id, img.ChainID, c.ImageName, &c.rootfs)
	if u := sb.UserNS(); u != nil {
		snapshot = sandbox.WithRemappedSnapshot(m.opts.Snapshotter, id, img.ChainID, c.ImageName, u)
	}
	t.Step("prepare")
	if err := m.failpoint("prepare"); err != nil {
		return err
	}
	lctx := ctx
	if len(imageMounts) > 0 || sb.UserNS() != nil {
		// Image mounts' views and a user namespace's remapped image copy
		// are made unreferenced first: the lease keeps them from the
		// garbage collector until the record references them. The
		// container's own snapshot is a root of its own (see
		// sandbox.WithSnapshot) and needs none.
		var done func()
		var err error
		if lctx, done, err = m.ctrd.lease(ctx); err != nil {
			return err
		}
		defer lease.Done(done, &retErr)
		t.Step("lease")
	}
	if err := m.failpoint("lease"); err != nil {
		return err
	}
	ctr, err := m.ctrd.newContainer(lctx, id,
		snapshot,
		func(context.Context, *client.Client, *containers.Container) error { t.Step("snapshot"); return nil },
		client.WithRuntime(rt.Type, rt.Options),
		// Labels before the spec: withSpec adds garbage collection
		// references for image mounts to them.
		client.WithContainerLabels(sandbox.ContainerdLabels(sandbox.KindContainer, sb.ID, cfg.GetLabels())),
		m.withSpec(sb, c, img, imageMounts, &in, &u, t),
	)
	if err != nil {
		return fmt.Errorf("create container %q in sandbox %s: %w", cfg.GetMetadata().GetName(), sb.ID, err)
	}
	c.ctr, c.snapshotter, c.noTask = ctr, m.opts.Snapshotter, true
	t.Step("container")
	if err := m.failpoint("container"); err != nil {
		return err
	}
	if err := c.update(checkpoint.Requested, func(s *Status) bool {
		s.Creating, s.Resources = false, cfg.GetLinux().GetResources()
		return true
	}); err != nil {
		return err
	}
	t.Step("checkpoint")
	// The pod may have begun to stop since Create looked at it: a stop
	// marks the pod stopping, then lists its containers to stop and remove
	// them. So the container is listed first and the pod looked at again:
	// either the stop's list has it, or this finds the pod stopping and
	// takes it back, undoing the creation. Its lock keeps a stop or
	// removal that listed it waiting until then (and a removal then finds
	// it gone).
	c.op.Lock()
	m.store.Add(c)
	if err := acceptsContainers(sb); err != nil {
		m.store.Remove(c.ID)
		c.op.Unlock()
		return fmt.Errorf("create container %q: %w", cfg.GetMetadata().GetName(), err)
	}
	c.op.Unlock()
	m.opts.Events.Publish(events.Lifecycle{ID: id, SandboxID: sb.ID, Kind: events.Created, Object: c})
	m.opts.Log.Info("container created", "container", id, "name", cfg.GetMetadata().GetName(), "sandbox", sb.ID, "image", c.ImageName)
	m.nriCreated(ctx, sb, c)
	return nil
}

// withSpec generates the spec once the snapshot exists (user and group
// lookups read the image's /etc/passwd and /etc/group from it), has NRI
// plugins adjust it, and keeps on c what the container's metadata takes
// from it.
func (m *Manager) withSpec(sb *sandbox.Sandbox, c *Container, img *image.Image, ims []*imageMount, in *spec.ContainerInput, u *undo.Stack, t *steps.Timer) client.NewContainerOpts {
	return func(ctx context.Context, cl *client.Client, ctr *containers.Container) error {
		sn := cl.SnapshotService(ctr.Snapshotter)
		rootfs := func() ([]mount.Mount, error) { return sn.Mounts(ctx, ctr.SnapshotKey) }
		if ctr.Labels == nil {
			ctr.Labels = map[string]string{}
		}
		imgMounts, err := m.mountImages(ctx, sn, ims, ctr.Labels)
		if err != nil {
			return err
		}
		in.Mounts = append(in.Mounts, imgMounts...)
		if in.Volumes, err = m.imageVolumes(ctx, c, img.Config.Config.Volumes, in.Mounts, rootfs); err != nil {
			return err
		}
		opts, err := spec.Container(*in)
		if err != nil {
			return err
		}
		t.Step("spec-prep")
		s, err := oci.GenerateSpec(ctx, cl, ctr, opts...)
		if err != nil {
			return err
		}
		if err := m.nriAdjust(ctx, sb, c, s, u); err != nil {
			return err
		}
		t.Step("spec")
		c.User, c.process = s.Process.User, s.Process
		if p := s.Linux.CgroupsPath; p != in.CgroupsPath {
			c.CgroupPath = spec.CgroupFSPath(p) // an NRI plugin moved it
		}
		if err := client.WithSpec(s)(ctx, cl, ctr); err != nil {
			return err
		}
		c.spec = ctr.Spec.GetValue() // the JSON sent to containerd
		return nil
	}
}

// namespaces returns the network, IPC, UTS and PID namespaces a container
// of sb joins, per the pod's and the container's namespace options.
func (m *Manager) namespaces(sb *sandbox.Sandbox, cfg *runtime.ContainerConfig) ([4]spec.Namespace, error) {
	var ns [4]spec.Namespace
	if sb.HostNetwork() {
		ns[0].Host, ns[2].Host = true, true
	} else {
		ns[0].Path, ns[2].Path = sb.NetNSPath, sb.NamespacePath(specs.UTSNamespace)
	}
	if sb.HostIPC() {
		ns[1].Host = true
	} else {
		ns[1].Path = sb.NamespacePath(specs.IPCNamespace)
	}
	mode := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetPid()
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions() == nil {
		mode = sb.PIDMode()
	}
	switch mode {
	case runtime.NamespaceMode_NODE:
		ns[3].Host = true
	case runtime.NamespaceMode_POD:
		if sb.PIDMode() == runtime.NamespaceMode_NODE {
			ns[3].Host = true
		} else {
			ns[3].Path = sb.NamespacePath(specs.PIDNamespace)
		}
	case runtime.NamespaceMode_TARGET:
		tid := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetTargetId()
		target, err := m.store.Get(tid)
		if err != nil {
			return ns, fmt.Errorf("pid namespace target %q: %w", tid, err)
		}
		st := target.Status()
		if st.State != StateRunning || target.SandboxID != sb.ID {
			return ns, fmt.Errorf("pid namespace target %s must be a running container of the same pod: %w", target.ID, errdefs.ErrFailedPrecondition)
		}
		ns[3].Path = filepath.Join("/proc", strconv.FormatUint(uint64(st.PID), 10), "ns", "pid")
	}
	// CONTAINER: a namespace of its own (zero Namespace).
	for i, n := range ns {
		if !n.Host && n.Path == "" && i != 3 {
			return ns, fmt.Errorf("sandbox %s has no running pause process to join: %w", sb.ID, errdefs.ErrFailedPrecondition)
		}
	}
	return ns, nil
}

// stopSignal is the signal StopContainer sends first: the config's, else
// the image's STOPSIGNAL, else SIGTERM. An image whose STOPSIGNAL names no
// signal of this platform gets SIGTERM, and bad says why: the container
// must stay stoppable, and kubelet cannot change the image.
func stopSignal(cfg *runtime.ContainerConfig, img *image.Image) (name string, bad error) {
	if sig := cfg.GetStopSignal(); sig != runtime.Signal_SIGNAL_RUNTIME_DEFAULT {
		n, err := signalOf(sig)
		if err != nil {
			return "", err // validated before; never here
		}
		return signalName(n), nil
	}
	if s := img.Config.Config.StopSignal; s != "" {
		n, err := parseSignal(s)
		if err != nil {
			return "SIGTERM", fmt.Errorf("image %s: STOPSIGNAL %w; using SIGTERM", img.ID, err)
		}
		return signalName(n), nil
	}
	return "SIGTERM", nil
}

// imageRef is what ContainerStatus reports as image_ref: the repo digest
// when the image has one, else its ID.
func imageRef(img *image.Image) string {
	if len(img.RepoDigests) > 0 {
		return img.RepoDigests[0]
	}
	return img.ID
}

// acceptsContainers says whether containers may be created or started in
// a sandbox: it must be ready and not on its way down.
func acceptsContainers(sb *sandbox.Sandbox) error {
	switch {
	case sb.Status().State != sandbox.StateReady:
		return fmt.Errorf("sandbox %s is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	case sb.Stopping():
		return fmt.Errorf("sandbox %s is stopping: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	return nil
}
