package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/containerd/containerd/v2/pkg/netns"
	"golang.org/x/sys/unix"
)

// NewNetNS creates a network namespace for sandbox id, pinned by a bind
// mount at NetNSPath(id). The name is the sandbox ID (not random, unlike
// containerd's helper) so that recovery after a crash can tell which
// namespace belongs to which sandbox.
func (m *Manager) NewNetNS(id string) (string, error) {
	p, err := m.createPin(id)
	if err != nil {
		return "", err
	}
	errc := make(chan error, 1)
	// Unshare on a dedicated, locked OS thread that is never returned to
	// the scheduler (the goroutine exits locked, so Go discards the
	// thread): no other goroutine ever runs in the new namespace.
	go func() {
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, p, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("pin network namespace at %s: %w", p, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(p)
		return "", err
	}
	return p, nil
}

// PinNetNS pins the network namespace of process pid (a pause container
// that created its own) at NetNSPath(id).
func (m *Manager) PinNetNS(id string, pid uint32) (string, error) {
	p, err := m.createPin(id)
	if err != nil {
		return "", err
	}
	src := fmt.Sprintf("/proc/%d/ns/net", pid)
	if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(p)
		return "", fmt.Errorf("pin network namespace of pid %d at %s: %w", pid, p, err)
	}
	return p, nil
}

// createPin creates the empty file a namespace of sandbox id is
// bind-mounted on; it fails if one exists (a sandbox ID is never reused).
func (m *Manager) createPin(id string) (string, error) {
	p := m.NetNSPath(id)
	if err := os.MkdirAll(m.netnsDir, 0o755); err != nil {
		return "", err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", fmt.Errorf("create netns pin %s: %w", p, err)
	}
	return p, f.Close()
}

// NetNSPath is where the network namespace of sandbox id is pinned.
func (m *Manager) NetNSPath(id string) string { return filepath.Join(m.netnsDir, id) }

// RemoveNetNS unmounts and removes a pinned network namespace; a missing one
// is not an error.
func (m *Manager) RemoveNetNS(path string) error {
	if path == "" {
		return nil
	}
	if err := netns.LoadNetNS(path).Remove(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network namespace %s: %w", path, err)
	}
	return nil
}
