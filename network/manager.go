package network

import (
	"path/filepath"
	"sync"
)

// Manager is the network layer: pod namespaces, CNI attach/detach, and the
// readiness and pod CIDR that kubelet sees and sets.
type Manager struct {
	cni      *CNIConfig
	netnsDir string

	mu      sync.RWMutex
	podCIDR string
}

// NewManager wraps a CNI configuration; pod namespaces are pinned under
// stateDir/netns.
func NewManager(cni *CNIConfig, stateDir string) *Manager {
	return &Manager{cni: cni, netnsDir: filepath.Join(stateDir, "netns")}
}

// Ready returns nil when pods can be networked, else the reason.
func (m *Manager) Ready() error { return m.cni.Ready() }

// SetPodCIDR records the node's pod CIDR from kubelet (UpdateRuntimeConfig);
// CNI plugins receive it as the podCIDR runtime config.
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

// Close releases the network layer's watchers.
func (m *Manager) Close() { m.cni.Close() }
