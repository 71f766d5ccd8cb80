package shim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The shim's socket, where containerd's shims keep theirs: a path derived
// from containerd's address, the namespace and the pod's group, so that
// the start command of every task of a pod finds the pod's shim. (The same
// derivation as containerd's pkg/shim, kept here with the few helpers the
// shim needs: that package pulls gRPC and most of containerd's API into a
// binary that is also every container's init; shim/faststart does it in C.)
const socketRoot = "/run/containerd/s"

// socketAddress returns "unix://" and the socket path of a pod's shim.
func socketAddress(containerdAddress, namespace, group string) string {
	d := sha256.Sum256([]byte(filepath.Join(containerdAddress, namespace, group)))
	return fmt.Sprintf("unix://%s/%x", socketRoot, d)
}

func socketPath(address string) string { return strings.TrimPrefix(address, "unix://") }

// newSocket listens on a new socket (0600 in a 0700 directory).
func newSocket(address string) (*net.UnixListener, error) {
	path := socketPath(address)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		os.Remove(path)
		return nil, err
	}
	return l.(*net.UnixListener), nil
}

func addressInUse(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "listen" && errors.Is(err, syscall.EADDRINUSE)
}

// canConnect tells whether a shim listens at address.
func canConnect(address string) bool {
	conn, err := net.DialTimeout("unix", socketPath(address), 100*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func removeSocket(address string) error { return os.Remove(socketPath(address)) }

// readAddress reads a bundle's address file.
func readAddress(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// adjustOOMScore gives a shim its parent's (containerd's) OOM score plus
// one, as containerd's shims have: the kernel kills it before containerd.
func adjustOOMScore(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", os.Getppid()))
	if err != nil {
		return err
	}
	score, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte(strconv.Itoa(min(score+1, 1000))), 0o644)
}
