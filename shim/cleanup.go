package shim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// killTimeout bounds the wait for a dead shim's container to die after
// SIGKILL (a process in uninterruptible sleep dies only when it wakes).
const killTimeout = 10 * time.Second

// cleanup is containerd's "delete" command: the shim of a task died (or
// never answered), and containerd asks for what it left to be removed and
// for the task's exit. Nothing waits for the container any more, so it is
// killed, with every process in its cgroup; its cgroup and libcontainer's
// state go once its init is gone, then the rootfs mounts, and the shim's
// socket if no shim listens there any more (containerd removes the bundle
// itself). Each step runs even when one before it failed; failures are
// reported on stderr, which containerd logs, and the exit is reported
// regardless: containerd needs it to finish the task.
func cleanup(ctx context.Context, f flags) error {
	bundle := f.bundle
	if bundle == "" {
		bundle, _ = os.Getwd()
	}
	var pid int
	lc, err := libcontainer.Load(stateRoot(f.namespace), f.id)
	switch {
	case err == nil:
		if st, err := lc.State(); err == nil {
			pid = st.InitProcessPid
		}
		if err := killAndDestroy(lc); err != nil {
			warnf("container %s: %v", f.id, err)
		}
	case !errors.Is(err, libcontainer.ErrNotExist):
		warnf("load container %s: %v", f.id, err)
	}
	if err := unmountRootfs(bundle); err != nil {
		warnf("unmount rootfs of %s: %v", f.id, err)
	}
	// A Create cut off before libcontainer wrote its state leaves a
	// directory it cannot load.
	os.RemoveAll(filepath.Join(stateRoot(f.namespace), f.id))
	removeDeadSocket(bundle)
	data, err := proto.Marshal(&taskapi.DeleteResponse{
		Pid:        uint32(pid),
		ExitStatus: 128 + uint32(unix.SIGKILL),
		ExitedAt:   timestamppb.New(time.Now()),
	})
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(data)
	return err
}

// killAndDestroy kills a container whose shim is gone and removes its
// cgroup and state. libcontainer refuses to destroy a container whose init
// still runs, and SIGKILL only starts the kill: its init is waited for
// (as gone once it is a zombie, which has left its cgroup; its parent,
// not this process, reaps it).
func killAndDestroy(lc *libcontainer.Container) error {
	// Kills every process of the cgroup when the container has no PID
	// namespace of its own, and thaws a paused one.
	lc.Signal(unix.SIGKILL)
	for deadline := time.Now().Add(killTimeout); lc.Signal(unix.Signal(0)) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("init still runs %s after SIGKILL", killTimeout)
		}
	}
	return lc.Destroy()
}

// removeDeadSocket removes the socket of the bundle's shim (its address
// file) when nothing accepts connections there: a shim killed with -9
// cannot remove its own, and the next shim of the pod replaces a stale
// one anyway. A live shim of the pod (it hosts other tasks) keeps its.
func removeDeadSocket(bundle string) {
	address, err := readAddress(filepath.Join(bundle, "address"))
	if err != nil || canConnect(address) {
		return
	}
	if err := removeSocket(address); err != nil && !errors.Is(err, os.ErrNotExist) {
		warnf("remove socket %s: %v", address, err)
	}
}

func warnf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "containerd-shim-cricket-v1 delete: "+format+"\n", args...)
}
