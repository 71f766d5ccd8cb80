package spec

import (
	"context"
	"os"
	"sync"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroupMount is the cgroup filesystem at /sys/fs/cgroup, as containerd's
// and CRI-O's containers have it: workloads read their own limits there
// (the JVM sizes its heap from it, Go programs GOMAXPROCS, kubelet's e2e
// probes check limits through it). Read-only, as Docker made it, unless
// the container is privileged. The OCI runtime mounts what the container
// may see: in its own cgroup namespace (withCgroupNamespace), its own
// cgroup as the root; without one (a privileged container), runc binds
// the container's own cgroup of each v1 controller.
func cgroupMount(privileged bool) specs.Mount {
	mode := "ro"
	if privileged {
		mode = "rw"
	}
	return specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
		Options: []string{"nosuid", "noexec", "nodev", "relatime", mode}}
}

// withCgroupNamespace gives a container a cgroup namespace of its own, so
// that /proc/self/cgroup and the cgroup filesystem show its own cgroup as
// the root, as containerd does on cgroup v2 hosts and runc supports on v1
// and hybrid ones. A privileged container keeps the host's, as with
// containerd and Docker, so that it can manage the node's cgroups.
func withCgroupNamespace(privileged bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if privileged || !hostHasCgroupNS() {
			return nil
		}
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == specs.CgroupNamespace {
				return nil
			}
		}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
		return nil
	}
}

// hostHasCgroupNS reports whether the kernel offers cgroup namespaces (4.6).
var hostHasCgroupNS = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/ns/cgroup")
	return err == nil
})
