package container

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/undo"
	"github.com/cricket-cri/cricket/nri"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/spec"
)

// Each nri* method tells NRI plugins of a container event (see package
// nri); with NRI off it returns at once and builds nothing.

// nriAdjust asks NRI plugins about a container being created, described
// by its generated spec s, and applies their adjustment to s; if the
// creation fails from here on, u tells them the container went.
func (m *Manager) nriAdjust(ctx context.Context, sb *sandbox.Sandbox, c *Container, s *specs.Spec, u *undo.Stack) error {
	if !m.opts.NRI.Enabled() {
		return nil
	}
	pod := m.sandboxes.NRIPod(sb)
	u.Push(func(ctx context.Context) error {
		m.opts.NRI.UndoCreateContainer(ctx, pod, m.nriContainer(c, s))
		return nil
	})
	adj, err := m.opts.NRI.CreateContainer(ctx, pod, m.nriContainer(c, s))
	if err != nil {
		return err
	}
	if err := spec.AdjustForNRI(s, adj, m.opts.OOM); err != nil {
		return fmt.Errorf("apply NRI plugins' adjustment: %w", err)
	}
	return nil
}

func (m *Manager) nriCreated(ctx context.Context, sb *sandbox.Sandbox, c *Container) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.PostCreateContainer(ctx, m.sandboxes.NRIPod(sb), m.nriContainer(c, m.specOf(ctx, c)))
	}
}

// nriStart runs as the container's process waits to start; a plugin's
// error fails the start. It runs under the container's lock: an update of
// this very container that a plugin asks for while it handles the event
// waits for the event's timeout (plugins ask off the event's path).
func (m *Manager) nriStart(ctx context.Context, c *Container) error {
	if !m.opts.NRI.Enabled() {
		return nil
	}
	return m.opts.NRI.StartContainer(ctx, m.nriPod(c), m.nriContainer(c, m.specOf(ctx, c)))
}

func (m *Manager) nriStarted(ctx context.Context, c *Container) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.PostStartContainer(ctx, m.nriPod(c), m.nriContainer(c, m.specOf(ctx, c)))
	}
}

// nriUpdate hands a container's requested resources to NRI plugins and
// returns what to apply: r, or r as plugins changed it.
func (m *Manager) nriUpdate(ctx context.Context, c *Container, r *runtime.LinuxContainerResources) (*runtime.LinuxContainerResources, error) {
	if !m.opts.NRI.Enabled() {
		return r, nil
	}
	changed, err := m.opts.NRI.UpdateContainer(ctx, m.nriPod(c), m.nriContainer(c, m.specOf(ctx, c)), nri.FromCRI(r))
	if err != nil || changed == nil {
		return r, err
	}
	return nri.OverCRI(r, changed), nil
}

func (m *Manager) nriUpdated(ctx context.Context, c *Container) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.PostUpdateContainer(ctx, m.nriPod(c), m.nriContainer(c, m.specOf(ctx, c)))
	}
}

// nriStopped runs once cricket stopped a container (or failed to start it).
func (m *Manager) nriStopped(ctx context.Context, c *Container) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.StopContainer(ctx, m.nriPod(c), m.nriContainer(c, m.specOf(ctx, c)))
	}
}

// nriExited runs once a container's exit is recorded, whoever caused it;
// off the caller's path (see nri.ContainerExited).
func (m *Manager) nriExited(c *Container) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.ContainerExited(c.ID, func(ctx context.Context) (*api.PodSandbox, *api.Container) {
			ctx = m.ctx(ctx)
			return m.nriPod(c), m.nriContainer(c, m.specOf(ctx, c))
		})
	}
}

func (m *Manager) nriRemoved(ctx context.Context, c *Container) {
	if m.opts.NRI.Enabled() {
		m.opts.NRI.RemoveContainer(ctx, m.nriPod(c), m.nriContainer(c, m.specOf(ctx, c)))
	}
}

// nriPod describes c's pod; only its ID if it is gone.
func (m *Manager) nriPod(c *Container) *api.PodSandbox {
	sb, err := m.sandboxes.Get(c.SandboxID)
	if err != nil {
		return &api.PodSandbox{Id: c.SandboxID}
	}
	return m.sandboxes.NRIPod(sb)
}

// specOf is the container's spec as stored in containerd (nil if it
// cannot be read: plugins then get the CRI's view alone).
func (m *Manager) specOf(ctx context.Context, c *Container) *specs.Spec {
	ctr, err := m.containerd(ctx, c)
	if err == nil {
		var s *specs.Spec
		if s, err = ctr.Spec(ctx); err == nil {
			return s
		}
	}
	m.opts.Log.Debug("spec of container for NRI plugins", "container", c.ID, "error", err)
	return nil
}

// nriContainer describes c as NRI plugins see it: its CRI metadata and
// state, and what its spec s (if known) says.
func (m *Manager) nriContainer(c *Container, s *specs.Spec) *api.Container {
	st := c.Status()
	ctr := &api.Container{
		Id:            c.ID,
		PodSandboxId:  c.SandboxID,
		Name:          c.Config.GetMetadata().GetName(),
		State:         nriState(st.State),
		Labels:        maps.Clone(c.Config.GetLabels()),
		Annotations:   map[string]string{},
		Pid:           st.PID,
		CreatedAt:     unixNano(c.CreatedAt),
		StartedAt:     unixNano(st.StartedAt),
		FinishedAt:    unixNano(st.FinishedAt),
		ExitCode:      st.ExitCode,
		StatusReason:  st.Reason,
		StatusMessage: st.Message,
		Image:         &api.Image{Name: c.ImageName},
	}
	if _, digest, ok := strings.Cut(c.ImageRef, "@"); ok {
		ctr.Image.Digest = digest
	}
	if s != nil {
		maps.Copy(ctr.Annotations, s.Annotations)
		ctr.Mounts = api.FromOCIMounts(s.Mounts)
		ctr.Hooks = api.FromOCIHooks(s.Hooks)
		if p := s.Process; p != nil {
			// Copies: the library edits what it is given.
			ctr.Args, ctr.Env = slices.Clone(p.Args), slices.Clone(p.Env)
			ctr.User = &api.User{Uid: p.User.UID, Gid: p.User.GID, AdditionalGids: p.User.AdditionalGids}
			for _, l := range p.Rlimits {
				ctr.Rlimits = append(ctr.Rlimits, &api.POSIXRlimit{Type: l.Type, Hard: l.Hard, Soft: l.Soft})
			}
		}
		if l := s.Linux; l != nil {
			ctr.Linux = &api.LinuxContainer{
				Namespaces:  api.FromOCILinuxNamespaces(l.Namespaces),
				Devices:     api.FromOCILinuxDevices(l.Devices),
				Resources:   api.FromOCILinuxResources(l.Resources, s.Annotations),
				CgroupsPath: l.CgroupsPath,
				Sysctl:      maps.Clone(l.Sysctl),
			}
			if s.Process != nil {
				ctr.Linux.OomScoreAdj = api.Int(s.Process.OOMScoreAdj)
			}
		}
	}
	// The CRI config's annotations win, as in containerd.
	maps.Copy(ctr.Annotations, c.Config.GetAnnotations())
	return ctr
}

func nriState(s State) api.ContainerState {
	switch s {
	case StateCreated:
		return api.ContainerState_CONTAINER_CREATED
	case StateRunning:
		return api.ContainerState_CONTAINER_RUNNING
	case StateExited:
		return api.ContainerState_CONTAINER_STOPPED
	}
	return api.ContainerState_CONTAINER_UNKNOWN
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// NRIDomain is what NRI plugins see of cricket and may change (see
// nri.Domain).
func (m *Manager) NRIDomain() nri.Domain { return nriDomain{m} }

type nriDomain struct{ m *Manager }

func (d nriDomain) ListPodSandboxes() []*api.PodSandbox {
	sbs := d.m.sandboxes.List()
	pods := make([]*api.PodSandbox, 0, len(sbs))
	for _, sb := range sbs {
		pods = append(pods, d.m.sandboxes.NRIPod(sb))
	}
	return pods
}

func (d nriDomain) ListContainers(ctx context.Context) []*api.Container {
	ctx = d.m.ctx(ctx)
	var out []*api.Container
	for _, c := range d.m.store.list("") {
		if c.Status().State != StateExited {
			out = append(out, d.m.nriContainer(c, d.m.specOf(ctx, c)))
		}
	}
	return out
}

// UpdateContainer applies a plugin's resources over the container's
// current ones: a plugin names only what it changes.
func (d nriDomain) UpdateContainer(ctx context.Context, id string, r *api.LinuxResources) error {
	c, err := d.m.store.Get(id)
	if err != nil {
		return err
	}
	return d.m.updateResources(d.m.ctx(ctx), c, nri.OverCRI(c.Status().Resources, r))
}
