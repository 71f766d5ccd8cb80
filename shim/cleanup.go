package shim

import (
	"context"
	"os"
	"path/filepath"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// cleanup is containerd's "delete" command: the shim of a task died, and
// containerd asks for what it left to be removed (the container's
// processes, cgroup and state, the rootfs mounts) and for the task's exit.
func cleanup(ctx context.Context, f flags) error {
	bundle := f.bundle
	if bundle == "" {
		bundle, _ = os.Getwd()
	}
	var pid int
	if lc, err := libcontainer.Load(stateRoot(f.namespace), f.id); err == nil {
		if st, err := lc.State(); err == nil {
			pid = st.InitProcessPid
		}
		lc.Signal(unix.SIGKILL)
		lc.Destroy()
	}
	unmountRootfs(bundle)
	os.RemoveAll(filepath.Join(stateRoot(f.namespace), f.id))
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
