package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// ImageFsInfo reports the writable layers' filesystem (container
// filesystems) besides the image filesystem, and what a container writes
// into its rootfs shows there.
func TestImageFsInfoContainerFilesystem(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	pod := podConfig("fsinfo")
	pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE}}
	podID := runPod(t, d, pod)
	id := runContainer(t, d, podID, pod, ctrConfig("writer", img, "sleep", "3600"))

	fsInfo := func() (image, ctr *runtime.FilesystemUsage) {
		t.Helper()
		resp, err := d.Images.ImageFsInfo(d.Ctx(), &runtime.ImageFsInfoRequest{})
		if err != nil {
			t.Fatalf("ImageFsInfo: %v", err)
		}
		if len(resp.ImageFilesystems) != 1 || len(resp.ContainerFilesystems) != 1 {
			t.Fatalf("ImageFsInfo = %v: want one image and one container filesystem", resp)
		}
		return resp.ImageFilesystems[0], resp.ContainerFilesystems[0]
	}
	imageFs, ctrFs := fsInfo()
	for name, fs := range map[string]*runtime.FilesystemUsage{"image": imageFs, "container": ctrFs} {
		if fs.Timestamp == 0 || fs.GetUsedBytes().GetValue() == 0 || fs.GetInodesUsed().GetValue() == 0 {
			t.Errorf("%s filesystem %v: want a timestamp and used bytes and inodes", name, fs)
		}
		if !strings.HasSuffix(fs.GetFsId().GetMountpoint(), "io.containerd.snapshotter.v1.overlayfs") {
			t.Errorf("%s filesystem at %q: want the snapshotter's root", name, fs.GetFsId().GetMountpoint())
		}
	}
	// Writable layers live under the snapshotter's root with the image
	// layers: one filesystem, which kubelet recognises by the mountpoint,
	// and then reads the image entry for both; it counts the writable
	// layers too.
	if imageFs.GetFsId().GetMountpoint() != ctrFs.GetFsId().GetMountpoint() {
		t.Errorf("image filesystem at %q, container filesystem at %q: one filesystem", imageFs.FsId.Mountpoint, ctrFs.FsId.Mountpoint)
	}
	if imageFs.UsedBytes.Value < ctrFs.UsedBytes.Value+1<<20 {
		t.Errorf("image filesystem uses %d bytes, container layers %d: the image entry counts both, and busybox is over 1 MiB", imageFs.UsedBytes.Value, ctrFs.UsedBytes.Value)
	}

	// 8 MiB into the container's rootfs: its writable layer, and so the
	// container filesystem, grows by as much (usage is cached briefly).
	const written = 8 << 20
	before := ctrFs.UsedBytes.Value
	execOut(t, d, id, "sh", "-c", fmt.Sprintf("head -c %d /dev/zero > /fill && sync", written))
	var last *runtime.FilesystemUsage
	waitFor(t, 30*time.Second, "the container filesystem to grow by 8 MiB", func() bool {
		imageFs, last = fsInfo()
		return last.UsedBytes.Value >= before+written
	}, func() string { return fmt.Sprintf("before %d bytes, last %v", before, last) })
	if imageFs.UsedBytes.Value < last.UsedBytes.Value {
		t.Errorf("image filesystem %d bytes, below the container filesystem's %d", imageFs.UsedBytes.Value, last.UsedBytes.Value)
	}
}
