package network

import (
	"context"
	"path/filepath"
	"sync"
)

// Backend connects pods to the node's network. There are two: CNI plugins
// (the default, see CNIConfig) and cricket's built-in bridge (Bridge).
type Backend interface {
	// Ready returns nil when pods can be networked, else the reason.
	Ready() error
	// Attach gives the pod in pod.NetNSPath its interface, addresses,
	// routes and host ports. On error the caller must Detach, which
	// releases whatever a partial attach left.
	Attach(ctx context.Context, pod Pod) (*Attachment, error)
	// Detach undoes Attach. Safe to repeat, and works when the namespace
	// is already gone (after a reboot).
	Detach(ctx context.Context, pod Pod) error
	// Collect releases what the backend holds for sandboxes that are not
	// in known: leftovers of a crash between a side effect and the
	// sandbox record that owns it. Backends that hold nothing of their
	// own (CNI: plugins keep their state) do nothing.
	Collect(ctx context.Context, known map[string]bool) error
	Close()
}

// Manager is the network layer: pod namespaces, the backend's attach and
// detach, and the readiness and pod CIDR that kubelet sees and sets.
type Manager struct {
	backend  Backend
	netnsDir string

	mu      sync.RWMutex
	podCIDR string
}

// NewManager wraps a backend; pod namespaces are pinned under
// stateDir/netns.
func NewManager(b Backend, stateDir string) *Manager {
	return &Manager{backend: b, netnsDir: filepath.Join(stateDir, "netns")}
}

// Ready returns nil when pods can be networked, else the reason.
func (m *Manager) Ready() error { return m.backend.Ready() }

// SetPodCIDR records the node's pod CIDR from kubelet (UpdateRuntimeConfig);
// CNI plugins receive it as the podCIDR runtime config, and the built-in
// bridge allocates from it.
func (m *Manager) SetPodCIDR(cidr string) {
	m.mu.Lock()
	m.podCIDR = cidr
	m.mu.Unlock()
}

// PodCIDR returns the last pod CIDR kubelet set.
func (m *Manager) PodCIDR() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.podCIDR
}

// Collect releases backend state of sandboxes not in known.
func (m *Manager) Collect(ctx context.Context, known map[string]bool) error {
	return m.backend.Collect(ctx, known)
}

// Close releases the network layer's watchers.
func (m *Manager) Close() { m.backend.Close() }
