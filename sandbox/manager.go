package sandbox

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/listbudget"
	"github.com/cricket-cri/cricket/internal/reserve"
	"github.com/cricket-cri/cricket/network"
	"github.com/cricket-cri/cricket/nri"
	"github.com/cricket-cri/cricket/spec"
)

// PodContainers is what a sandbox needs from the container side: stopping
// and removing every container of a pod. The container manager implements
// it.
type PodContainers interface {
	StopPod(ctx context.Context, sandboxID string) error
	RemovePod(ctx context.Context, sandboxID string) error
}

// Options configure the sandbox Manager.
type Options struct {
	Root, State string
	Namespace   string // containerd namespace
	// ContainerdAddress identifies cricket's shims (their -address).
	ContainerdAddress string
	// ShimDirs are searched for shim binaries before PATH: the
	// directories a managed containerd has first in its PATH.
	ShimDirs    []string
	Snapshotter string
	// Config is the running configuration: the sandbox image, the
	// runtime handlers and the default handler are read from it when a
	// pod is created, so a reload applies to the pods created after it.
	Config *config.Live
	// Pinned holds pods' namespaces without a pause process where the
	// pod needs none (sandbox_mode = "pinned").
	Pinned        bool
	SystemdCgroup bool
	OOM           *spec.OOMScore
	// Events receives lifecycle events for GetContainerEvents.
	Events *events.Broker
	// ListBudget bounds what pods and containers together add to list,
	// status and event responses; nil for no bound.
	ListBudget *listbudget.Budget
	// NRI relays pod events to NRI plugins; nil when NRI is off.
	NRI *nri.NRI
	Log *slog.Logger
}

// Manager runs pod sandboxes.
type Manager struct {
	opts    Options
	client  *client.Client
	images  imageEnsurer
	network podNetwork
	// pause and pinned hold sandboxes' namespaces; controllerOf picks.
	pause      controller
	pinned     controller
	store      store
	names      reserve.Names
	containers PodContainers
	// failAt injects failures into creations in unit tests (see
	// failpoint); nil otherwise.
	failAt func(step string) error
}

// New returns a sandbox Manager. Call SetContainers before serving.
func New(c *client.Client, images *image.Service, netm *network.Manager, opts Options) *Manager {
	m := &Manager{opts: opts, client: c, images: images, network: netm, store: newStore()}
	m.pause, m.pinned = &pauseController{m: m}, &pinnedController{m: m}
	return m
}

// controllerOf is the controller holding sb's namespaces.
func (m *Manager) controllerOf(sb *Sandbox) controller {
	if sb.Pinned {
		return m.pinned
	}
	return m.pause
}

// SetContainers wires the container side in (the two managers refer to
// each other).
func (m *Manager) SetContainers(pc PodContainers) { m.containers = pc }

// Get returns a sandbox by ID or unique ID prefix.
func (m *Manager) Get(id string) (*Sandbox, error) { return m.store.Get(id) }

// List returns all sandboxes, oldest first.
func (m *Manager) List() []*Sandbox { return m.store.List(nil) }

// Options returns the manager's options (for the container side).
func (m *Manager) Namespace() string { return m.opts.Namespace }

// ctx adds cricket's containerd namespace, which containerd's spec helpers
// read from the context.
func (m *Manager) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, m.opts.Namespace)
}

func (m *Manager) checkpointPath(id string) string {
	return filepath.Join(m.opts.Root, "sandboxes", id+".json")
}

// CgroupsPath returns the cgroups path for a process of sandbox sb.
func (m *Manager) CgroupsPath(sb *Sandbox, id string) string {
	return spec.CgroupsPath(sb.CgroupParent, id, m.opts.SystemdCgroup)
}
