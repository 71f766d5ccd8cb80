package container

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/listbudget"
	"github.com/cricket-cri/cricket/internal/reserve"
	"github.com/cricket-cri/cricket/nri"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/spec"
	"github.com/cricket-cri/cricket/stats"
)

// Options configure the container Manager.
type Options struct {
	Root, State    string
	Namespace      string // containerd namespace
	Snapshotter    string
	MaxLogLineSize int
	IgnoreVolumes  bool // image volumes are not mounted
	SystemdCgroup  bool // cgroup parents are systemd slices
	OOM            *spec.OOMScore
	// Stats samples container cgroups.
	Stats *stats.Collector
	// Events receives lifecycle events for GetContainerEvents.
	Events *events.Broker
	// ListBudget bounds what pods and containers together add to list,
	// status and event responses; nil for no bound.
	ListBudget *listbudget.Budget
	// CDI resolves the CDI devices containers ask for; nil when CDI is
	// disabled (such containers are refused).
	CDI *spec.CDI
	// NRI relays container events to NRI plugins; nil when NRI is off.
	NRI *nri.NRI
	Log *slog.Logger
}

// Manager runs containers in sandboxes.
type Manager struct {
	opts      Options
	client    *client.Client
	ctrd      containerdOps
	images    imageGetter
	sandboxes pods
	store     store
	names     reserve.Names
	layers    layerCache
	users     spec.UserCache
	// recoverySem bounds the exits found at start-up finished at once
	// (see finishRecovered).
	recoverySem chan struct{}
	// failAt injects failures into creations in unit tests (see
	// failpoint); nil otherwise.
	failAt func(step string) error
}

// New returns a container Manager and registers it with the sandboxes.
func New(c *client.Client, images *image.Service, sandboxes *sandbox.Manager, opts Options) *Manager {
	m := &Manager{opts: opts, client: c, ctrd: clientOps{c}, images: images, sandboxes: sandboxes, store: newStore(),
		recoverySem: make(chan struct{}, recoveryFinishers)}
	sandboxes.SetContainers(m)
	return m
}

// Get returns a container by ID or unique ID prefix.
func (m *Manager) Get(id string) (*Container, error) { return m.store.Get(id) }

// List returns all containers (of one sandbox if sandboxID is set).
func (m *Manager) List(sandboxID string) []*Container { return m.store.list(sandboxID) }

func (m *Manager) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, m.opts.Namespace)
}

func (m *Manager) checkpointPath(id string) string {
	return filepath.Join(m.opts.Root, "containers", id+".json")
}

// containerd returns the container's containerd container: the handle kept
// from its creation, else loaded.
func (m *Manager) containerd(ctx context.Context, c *Container) (client.Container, error) {
	c.mu.Lock()
	ctr := c.ctr
	c.mu.Unlock()
	if ctr != nil {
		return ctr, nil
	}
	return m.ctrd.loadContainer(ctx, c.ID)
}

// containerdTask returns the container's task: the handle kept from its
// start, else loaded (an errdefs NotFound error when there is none).
func (m *Manager) containerdTask(ctx context.Context, c *Container) (client.Task, error) {
	c.mu.Lock()
	task := c.task
	c.mu.Unlock()
	if task != nil {
		return task, nil
	}
	ctr, err := m.containerd(ctx, c)
	if err != nil {
		return nil, err
	}
	return ctr.Task(ctx, nil)
}
