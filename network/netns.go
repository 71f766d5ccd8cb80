package network

import (
	"os"
	"path/filepath"

	"github.com/cricket-cri/cricket/internal/nspin"
)

// NewNetNS creates a network namespace for sandbox id, pinned by a bind
// mount at NetNSPath(id). The name is the sandbox ID (not random, unlike
// containerd's helper) so that recovery after a crash can tell which
// namespace belongs to which sandbox.
func (m *Manager) NewNetNS(id string) (string, error) {
	if err := os.MkdirAll(m.netnsDir, 0o755); err != nil {
		return "", err
	}
	p := m.NetNSPath(id)
	return p, nspin.New([]nspin.Pin{{Kind: nspin.Net, Path: p}}, nil)
}

// PinNetNS pins the network namespace of process pid (a pause container
// that created its own) at NetNSPath(id).
func (m *Manager) PinNetNS(id string, pid uint32) (string, error) {
	if err := os.MkdirAll(m.netnsDir, 0o755); err != nil {
		return "", err
	}
	p := m.NetNSPath(id)
	return p, nspin.Existing(nspin.Net, pid, p)
}

// NetNSPath is where the network namespace of sandbox id is pinned.
func (m *Manager) NetNSPath(id string) string { return filepath.Join(m.netnsDir, id) }

// RemoveNetNS unmounts and removes a pinned network namespace; a missing one
// is not an error.
func (m *Manager) RemoveNetNS(path string) error {
	if path == "" {
		return nil
	}
	return nspin.Remove(path)
}
