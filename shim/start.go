package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// groupAnnotations name the pod a task belongs to: its tasks share a shim.
// cricket sets the first; containerd's CRI plugin the second.
var groupAnnotations = []string{"io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"}

// start is containerd's "start" command, run in the task's bundle: it
// prints the address of the shim that will serve the task, starting one
// unless the task's pod already has one listening.
func start(ctx context.Context, f flags) error {
	// containerd writes the runtime options to stdin; the shim takes its
	// options from the task's spec, and none of them change the start.
	io.Copy(io.Discard, os.Stdin)
	group := f.id
	if b, err := os.ReadFile("config.json"); err == nil {
		var s specs.Spec
		if json.Unmarshal(b, &s) == nil {
			for _, a := range groupAnnotations {
				if g := s.Annotations[a]; g != "" {
					group = g
					break
				}
			}
		}
	}
	address := socketAddress(f.address, f.namespace, group)
	socket, err := newSocket(address)
	if err != nil {
		if !addressInUse(err) {
			return fmt.Errorf("create shim socket %s: %w", address, err)
		}
		if canConnect(address) {
			// The pod's shim is running: it serves this task too.
			return announce(address)
		}
		// A socket left by a shim that died.
		if err := removeSocket(address); err != nil {
			return fmt.Errorf("remove stale shim socket %s: %w", address, err)
		}
		if socket, err = newSocket(address); err != nil {
			return fmt.Errorf("create shim socket %s: %w", address, err)
		}
	}
	sf, err := socket.File()
	// The serving process takes the socket over; closing this listener
	// must not remove its file.
	socket.SetUnlinkOnClose(false)
	socket.Close()
	if err != nil {
		return err
	}
	defer sf.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-namespace", f.namespace, "-id", f.id, "-address", f.address}
	if f.debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir, _ = os.Getwd()
	cmd.Env = os.Environ()
	cmd.ExtraFiles = []*os.File{sf} // fd 3: the listening socket
	// Its own process group: signals to containerd's group are not its.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		removeSocket(address)
		return fmt.Errorf("start shim: %w", err)
	}
	if err := adjustOOMScore(cmd.Process.Pid); err != nil {
		// Not fatal: without CAP_SYS_RESOURCE a shim keeps its parent's.
		fmt.Fprintf(os.Stderr, "containerd-shim-cricket-v1: %v\n", err)
	}
	cmd.Process.Release()
	return announce(address)
}

// announce tells containerd the shim's address: on stdout, and in the
// bundle's "address" file, which containerd reads to reconnect to the
// shim after a restart of its own.
func announce(address string) error {
	if err := os.WriteFile("address", []byte(address), 0o600); err != nil {
		return err
	}
	_, err := fmt.Fprint(os.Stdout, address)
	return err
}
