package integration

import (
	"os"
	"strings"
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// Workloads read their own limits at /sys/fs/cgroup (the JVM's heap, Go's
// GOMAXPROCS): it holds the container's own cgroup, read-only unless the
// container is privileged.
func TestCgroupFilesystemInContainers(t *testing.T) {
	forEachHandler(t, testCgroupFilesystemInContainers)
}

func testCgroupFilesystemInContainers(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	unified := false
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		unified = true
	}
	// On a v1 or hybrid host, the memory controller's mount (runc puts
	// each v1 controller below a tmpfs at /sys/fs/cgroup).
	limitFile, subdir, cgroupMount := "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/sub", "/sys/fs/cgroup/memory"
	if unified {
		limitFile, subdir, cgroupMount = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/sub", "/sys/fs/cgroup"
	}

	pod := podConfig("cgroupfs")
	pod.Linux.CgroupParent = d.CgroupParent("pod-cgroupfs")
	podID := runPodOn(t, d, pod, handler)
	cfg := ctrConfig("plain", img, "sleep", "3600")
	cfg.Linux.Resources = &runtime.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}
	c := runContainer(t, d, podID, pod, cfg)
	if got := execOut(t, d, c, "cat", limitFile); got != "67108864" {
		t.Errorf("%s in the container: %q, want its own limit 67108864", limitFile, got)
	}
	mounts := execOut(t, d, c, "cat", "/proc/self/mounts")
	if !mountedRO(mounts, cgroupMount) {
		t.Errorf("%s is not a read-only mount in the container:\n%s", cgroupMount, mounts)
	}
	if _, _, code := execSync(t, d, c, "mkdir", subdir); code == 0 {
		t.Errorf("a container created %s in its read-only cgroup filesystem", subdir)
	}
	// Its own cgroup namespace: its cgroup is the root it sees.
	if got := execOut(t, d, c, "cat", "/proc/self/cgroup"); !strings.Contains(got, ":/\n") && !strings.HasSuffix(got, ":/") {
		t.Errorf("/proc/self/cgroup in the container: %q, want its own cgroup as /", got)
	}

	// A privileged container may manage cgroups below its own.
	priv := podConfig("cgroupfs-priv")
	priv.Linux.CgroupParent = d.CgroupParent("pod-cgroupfs-priv")
	priv.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{Privileged: true}
	privID := runPodOn(t, d, priv, handler)
	pcfg := ctrConfig("priv", img, "sleep", "3600")
	pcfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Privileged: true}
	pc := runContainer(t, d, privID, priv, pcfg)
	if mountedRO(execOut(t, d, pc, "cat", "/proc/self/mounts"), cgroupMount) {
		t.Errorf("%s is read-only in a privileged container", cgroupMount)
	}
	if out, errOut, code := execSync(t, d, pc, "sh", "-c", "mkdir "+subdir+" && rmdir "+subdir); code != 0 {
		t.Errorf("a privileged container cannot manage cgroups below its own: %s %s", out, errOut)
	}
	// A CRI mount at /sys/fs/cgroup replaces it.
	over := ctrConfig("over", img, "sleep", "3600")
	over.Mounts = []*runtime.Mount{{ContainerPath: "/sys/fs/cgroup", HostPath: t.TempDir()}}
	oc := runContainer(t, d, podID, pod, over)
	if got := execOut(t, d, oc, "ls", "/sys/fs/cgroup"); got != "" {
		t.Errorf("a CRI mount at /sys/fs/cgroup: it holds %q, want the (empty) mounted directory", got)
	}
}

// mountedRO reports whether /proc/mounts content has a read-only mount at
// dir.
func mountedRO(mounts, dir string) bool {
	for _, l := range strings.Split(mounts, "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && f[1] == dir {
			return strings.HasPrefix(f[3], "ro,") || f[3] == "ro"
		}
	}
	return false
}
