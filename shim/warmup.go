package shim

import (
	"encoding/json"
	"runtime/debug"

	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// warmUp runs, once and with nothing kept, what a task's Create does
// before libcontainer forks: decoding an OCI spec, converting it for
// libcontainer, encoding that for the container's init, making its cgroup
// manager. The first of each
// in a new process builds encoding/json's per-type codecs for the spec's
// and libcontainer's large types and grows the heap: about 5 ms that the
// first container of a pinned pod (whose shim is started ahead, idle until
// then) would otherwise wait for. A pause container's shim does the same
// work with its first task.
func warmUp() {
	s := warmUpSpec()
	b, err := json.Marshal(s)
	if err != nil {
		return
	}
	var decoded specs.Spec
	if json.Unmarshal(b, &decoded) != nil {
		return
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: "warm-up", Spec: &decoded})
	if err != nil {
		return
	}
	json.Marshal(cfg)
	// The cgroup manager's first construction reads the host's cgroup
	// mounts (kept for the process's life); nothing is created.
	manager.New(cfg.Cgroups)
	// What the warm-up left as garbage goes back to the kernel now: the
	// shim's memory is counted per pod.
	debug.FreeOSMemory()
}

// warmUpSpec is a spec with the parts cricket's containers have.
func warmUpSpec() *specs.Spec {
	s := specconv.Example()
	s.Root.Path = "/nonexistent-rootfs"
	s.Process.Env = append(s.Process.Env, "KUBERNETES_SERVICE_HOST=10.0.0.1", "HOME=/root")
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/etc/hosts", Options: []string{"rbind", "rprivate", "ro"}},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	)
	quota, period, shares, limit := int64(50000), uint64(100000), uint64(512), int64(128<<20)
	s.Linux.Resources = &specs.LinuxResources{
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares},
		Memory: &specs.LinuxMemory{Limit: &limit},
	}
	s.Linux.CgroupsPath = "/kubepods/warm-up"
	s.Annotations = map[string]string{"io.kubernetes.cri.container-type": "container"}
	return s
}
