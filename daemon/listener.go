package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/coreos/go-systemd/v22/activation"
)

// criListener is the CRI socket and the lock that proves cricketd owns it.
type criListener struct {
	net.Listener
	lock *os.File // nil for a socket handed over by systemd
}

// listen returns the CRI listener: the socket systemd passed (socket
// activation) or a new unix socket at path. A lock file next to the socket
// keeps a second daemon from replacing the socket of a running one; a socket
// file left by a dead daemon is replaced.
func listen(path string) (*criListener, error) {
	if ls, err := activation.Listeners(); err == nil && len(ls) > 0 {
		if len(ls) > 1 {
			return nil, fmt.Errorf("systemd passed %d sockets; want one", len(ls))
		}
		return &criListener{Listener: ls[0]}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, fmt.Errorf("create socket dir: %w", err)
	}
	lockPath := path + ".lock"
	lock, err := holdLock(lockPath, "CRI socket "+path)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		lock.Close()
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		lock.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return &criListener{Listener: l, lock: lock}, nil
}

// Close closes (and, for our own socket, unlinks) the socket, then releases
// the lock.
func (l *criListener) Close() error {
	err := l.Listener.Close()
	if l.lock != nil {
		l.lock.Close()
	}
	return err
}
