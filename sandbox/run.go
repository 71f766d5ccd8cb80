package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/internal/ids"
	"github.com/cricket-cri/cricket/internal/steps"
	"github.com/cricket-cri/cricket/internal/testhold"
	"github.com/cricket-cri/cricket/internal/undo"
	"github.com/cricket-cri/cricket/network"
)

// Run creates and starts a pod sandbox and returns its ID. The creation
// runs detached from ctx: if the caller gives up, it still finishes (or
// undoes itself), and kubelet's retry with the same pod metadata receives
// the sandbox (see package reserve).
func (m *Manager) Run(ctx context.Context, cfg *runtime.PodSandboxConfig, handler string) (string, error) {
	if err := validate(cfg); err != nil {
		return "", err
	}
	// The handler and the sandbox image are read from the running
	// configuration once, here: a reload during the creation does not
	// change them half-way.
	running := m.opts.Config.Get()
	rt, err := m.resolveRuntime(running, handler)
	if err != nil {
		return "", err
	}
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() != runtime.NamespaceMode_NODE {
		if err := m.network.Ready(); err != nil {
			return "", fmt.Errorf("pod network is not ready: %v: %w", err, errdefs.ErrFailedPrecondition)
		}
	}
	return m.names.Create(m.ctx(ctx), nameKey(cfg.GetMetadata()), ids.New, func(ctx context.Context, id string) error {
		testhold.At(ctx, "RunPodSandbox")
		return m.create(ctx, id, cfg, rt, running.SandboxImage)
	})
}

func (m *Manager) create(ctx context.Context, id string, cfg *runtime.PodSandboxConfig, rt Runtime, sandboxImage string) (retErr error) {
	sb := &Sandbox{
		Metadata: Metadata{
			ID:             id,
			Config:         cfg,
			RuntimeHandler: rt.Handler,
			Runtime:        rt,
			CreatedAt:      time.Now(),
			CgroupParent:   cfg.GetLinux().GetCgroupParent(),
			Dir:            filepath.Join(m.opts.State, "sandboxes", id),
		},
		status: Status{Creating: true},
		file:   checkpoint.File{Path: m.checkpointPath(id), Durable: true},
	}
	sb.Pinned = m.opts.Pinned && usePinned(sb)
	if !sb.HostNetwork() {
		sb.NetNSPath = m.network.NetNSPath(id)
	}
	var u undo.Stack
	t := steps.Start("RunPodSandbox")
	// A plugin registering now sees the pod whole or not at all.
	defer m.opts.NRI.BlockSync()()
	defer func() {
		if retErr != nil {
			u.Run(ctx, func(err error) { m.opts.Log.Error("undo failed sandbox creation", "sandbox", id, "error", err) })
		}
		t.Done(m.opts.Log, "sandbox", id)
	}()

	// Its share of the list budget before anything exists: a pod that
	// would make list, status or event responses too large is refused.
	charge, err := m.opts.ListBudget.Reserve("pod sandbox "+nameKey(cfg.GetMetadata()), listedSize(sb))
	if err != nil {
		return err
	}
	u.Push(func(context.Context) error { charge.Release(); return nil })
	sb.listCharge = charge
	if err := m.failpoint("budget"); err != nil {
		return err
	}

	var img *image.Image
	if !sb.Pinned {
		var err error
		if img, err = m.images.Ensure(ctx, sandboxImage); err != nil {
			return fmt.Errorf("sandbox image %s: %w", sandboxImage, err)
		}
		sb.Image = img.ID
		t.Step("image")
		if err := m.failpoint("image"); err != nil {
			return err
		}
	}

	// The checkpoint goes first: if cricketd dies half-way, start-up
	// finds a sandbox still "creating" and rolls it back.
	if err := sb.update(checkpoint.Requested, nil); err != nil {
		return err
	}
	u.Push(func(context.Context) error { return sb.removeCheckpoint() })
	t.Step("checkpoint")
	if err := m.failpoint("checkpoint"); err != nil {
		return err
	}

	u.Push(func(context.Context) error { return removeFiles(sb) })
	if err := writeFiles(sb); err != nil {
		return fmt.Errorf("sandbox %s files: %w", id, err)
	}
	if err := mountShm(sb); err != nil {
		return err
	}
	if dir := cfg.GetLogDirectory(); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create log directory: %w", err)
		}
	}
	t.Step("files")
	if err := m.failpoint("files"); err != nil {
		return err
	}

	// Usually cricket creates the pod's network namespace and the pause
	// container joins it. A pod in its own user namespace needs a network
	// namespace owned by that user namespace (or it cannot mount sysfs):
	// the pause container creates it and cricket pins it before the
	// network is attached and the pause process runs.
	// createHolder creates what holds the pod's namespaces: the pause
	// container, or a pinned sandbox's pins and shim (see controllerOf).
	var pid uint32
	createHolder := func() error {
		u.Push(func(ctx context.Context) error { return m.controllerOf(sb).Delete(m.ctx(ctx), sb) })
		var err error
		if pid, err = m.controllerOf(sb).Create(ctx, sb, img); err != nil {
			return err
		}
		return m.failpoint("holder")
	}
	usernsNet := sb.UserNS() != nil && !sb.HostNetwork()
	if usernsNet {
		if err := createHolder(); err != nil {
			return err
		}
	}
	ip := ""
	if !sb.HostNetwork() {
		u.Push(func(context.Context) error { return m.network.RemoveNetNS(sb.NetNSPath) })
		var err error
		if usernsNet {
			_, err = m.network.PinNetNS(id, pid)
		} else {
			_, err = m.network.NewNetNS(id)
		}
		if err != nil {
			return err
		}
		t.Step("netns")
		if err := m.failpoint("netns"); err != nil {
			return err
		}
		// Detach is pushed before Attach: a plugin chain that fails half
		// way may still hold an address.
		u.Push(func(ctx context.Context) error { return m.network.Detach(ctx, m.networkPod(sb)) })
		// The network attach (a CNI plugin chain: tens of milliseconds of
		// plugin execs) and the pause container's creation (shim and
		// runc) need only the pinned namespace, so they run at once; the
		// pause process starts after both. A pod in its own user namespace
		// has its pause container already.
		type attached struct {
			att *network.Attachment
			err error
		}
		ch := make(chan attached, 1)
		go func() {
			att, err := m.network.Attach(ctx, m.networkPod(sb))
			ch <- attached{att, err}
		}()
		// A sysctl of the pod's eth0 can be set only once the attach
		// created it, and must be set after the attach's own settings.
		netFirst := !usernsNet && hasNetDeviceSysctl(sb.Config.GetLinux().GetSysctls())
		if !usernsNet && !netFirst {
			if err := createHolder(); err != nil {
				<-ch // the undo stack must not run under a live attach
				return err
			}
		}
		r := <-ch
		if r.err != nil {
			return r.err
		}
		att := r.att
		ip = att.IP
		t.Step("network+pause-create")
		sb.update(checkpoint.Deferred, func(s *Status) bool {
			s.IP, s.AdditionalIPs, s.CNIResult, s.NetAttached = att.IP, att.AdditionalIPs, att.CNIResult, true
			return true
		})
		if err := m.failpoint("network"); err != nil {
			return err
		}
		if netFirst {
			if err := createHolder(); err != nil {
				return err
			}
		}
	}
	if err := writeHosts(sb, ip); err != nil {
		return fmt.Errorf("sandbox %s hosts file: %w", id, err)
	}
	if sb.HostNetwork() {
		if err := createHolder(); err != nil {
			return err
		}
	}
	t.Step("hosts")
	if err := m.failpoint("hosts"); err != nil {
		return err
	}
	if err := m.controllerOf(sb).Start(ctx, sb); err != nil {
		return err
	}
	t.Step("pause-start")
	if err := m.failpoint("start"); err != nil {
		return err
	}
	// Ready for NRI plugins to see, written once they had their say.
	sb.update(checkpoint.Deferred, func(s *Status) bool { s.PID, s.State = pid, StateReady; return true })
	if err := m.nriRun(ctx, sb, &u); err != nil {
		return fmt.Errorf("sandbox %s: %w", id, err)
	}
	if err := m.failpoint("nri"); err != nil {
		return err
	}
	if err := sb.update(checkpoint.Requested, func(s *Status) bool { s.Creating = false; return true }); err != nil {
		return err
	}
	t.Step("checkpoint")
	m.store.Add(sb)
	m.opts.Events.Publish(events.Lifecycle{ID: id, SandboxID: id, Kind: events.Created, Object: sb})
	m.opts.Events.Publish(events.Lifecycle{ID: id, SandboxID: id, Kind: events.Started, Object: sb})
	m.opts.Log.Info("sandbox running", "sandbox", id, "pod", cfg.GetMetadata().GetNamespace()+"/"+cfg.GetMetadata().GetName(), "ip", ip, "pid", pid)
	return nil
}

// networkPod is the network layer's view of a sandbox.
func (m *Manager) networkPod(sb *Sandbox) network.Pod {
	md := sb.Config.GetMetadata()
	pod := network.Pod{
		SandboxID:   sb.ID,
		Name:        md.GetName(),
		Namespace:   md.GetNamespace(),
		UID:         md.GetUid(),
		NetNSPath:   sb.NetNSPath,
		Annotations: sb.Config.GetAnnotations(),
	}
	for _, p := range sb.Config.GetPortMappings() {
		proto := "tcp"
		switch p.GetProtocol() {
		case runtime.Protocol_UDP:
			proto = "udp"
		case runtime.Protocol_SCTP:
			proto = "sctp"
		}
		pod.Ports = append(pod.Ports, network.PortMapping{HostPort: p.GetHostPort(), ContainerPort: p.GetContainerPort(), Protocol: proto, HostIP: p.GetHostIp()})
	}
	return pod
}
