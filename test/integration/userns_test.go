package integration

import (
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

func usernsPod(name string, uids, gids []*runtime.IDMapping, mode runtime.NamespaceMode) *runtime.PodSandboxConfig {
	pod := podConfig(name)
	pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{NamespaceOptions: &runtime.NamespaceOption{
		UsernsOptions: &runtime.UserNamespace{Mode: mode, Uids: uids, Gids: gids},
	}}
	return pod
}

func TestUserNamespacePods(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	img := busybox(t, d)
	m := []*runtime.IDMapping{{ContainerId: 0, HostId: 200000, Length: 65536}}
	pod := usernsPod("userns", m, m, runtime.NamespaceMode_POD)
	podID := runPod(t, d, pod)

	// kubelet runs hostUsers: false pods only on a handler that advertises
	// user namespaces, and then idmaps every mount it asks for. The
	// feature is advertised exactly when such a container can be created.
	st, err := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	advertised := st.RuntimeHandlers[0].GetFeatures().GetUserNamespaces()
	hosts := &runtime.Mount{ContainerPath: "/etc/hosts", HostPath: "/etc/hosts", Readonly: true, UidMappings: m, GidMappings: m}
	kubeletCfg := ctrConfig("kubelet-style", img, "true")
	kubeletCfg.Mounts = []*runtime.Mount{hosts}
	kubeletCfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{NamespaceOptions: pod.Linux.SecurityContext.NamespaceOptions}
	_, err = d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: kubeletCfg, SandboxConfig: pod})
	if works := err == nil; works != advertised {
		t.Errorf("user_namespaces advertised %v, but a container with idmapped mounts: %v", advertised, err)
	}
	if !advertised && (codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "idmapped")) {
		t.Errorf("idmapped mount refused with %v, want InvalidArgument naming it", err)
	}
	cfg := ctrConfig("c", img, "sleep", "3600")
	cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{NamespaceOptions: pod.Linux.SecurityContext.NamespaceOptions}
	c := runContainer(t, d, podID, pod, cfg)

	if got := strings.Fields(execOut(t, d, c, "cat", "/proc/self/uid_map")); strings.Join(got, " ") != "0 200000 65536" {
		t.Errorf("uid_map in the pod: %q", got)
	}
	if got := execOut(t, d, c, "id", "-u"); got != "0" {
		t.Errorf("container root is uid %q inside", got)
	}
	if got := execOut(t, d, c, "stat", "-c", "%u:%g", "/bin/busybox"); got != "0:0" {
		t.Errorf("image files are owned by %q inside, want 0:0", got)
	}
	execOut(t, d, c, "touch", "/root-can-write-its-rootfs")
	// On the host, the container's root is uid 200000.
	pid := containerPID(t, d, c)
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	if !strings.Contains(string(status), "Uid:\t200000") {
		t.Errorf("container process on the host:\n%s", status)
	}
	ip := podStatus(t, d, podID).GetNetwork().GetIp()
	if ip == "" || !reachable(ip) {
		t.Errorf("user namespace pod IP %q not reachable", ip)
	}
	if got := execOut(t, d, c, "sh", "-c", "grep ' /sys ' /proc/self/mounts"); !strings.Contains(got, "sysfs") {
		t.Errorf("no sysfs in a user namespace pod: %q", got)
	}

	// A host-userns pod (mode NODE) sees the host's mapping.
	node := usernsPod("userns-node", nil, nil, runtime.NamespaceMode_NODE)
	nodeID := runPod(t, d, node)
	nc := runContainer(t, d, nodeID, node, ctrConfig("c", img, "sleep", "3600"))
	host, _ := os.ReadFile("/proc/self/uid_map")
	if got := execOut(t, d, nc, "cat", "/proc/self/uid_map"); strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(string(host)), " ") {
		t.Errorf("NODE userns uid_map %q, host %q", got, host)
	}

	for name, p := range map[string]*runtime.PodSandboxConfig{
		"two mappings":    usernsPod("u2", append(m, &runtime.IDMapping{ContainerId: 0, HostId: 300000, Length: 10}), m, runtime.NamespaceMode_POD),
		"no root mapping": usernsPod("u3", []*runtime.IDMapping{{ContainerId: 1, HostId: 200000, Length: 10}}, m, runtime.NamespaceMode_POD),
		"mode CONTAINER":  usernsPod("u4", m, m, runtime.NamespaceMode_CONTAINER),
		"mode TARGET":     usernsPod("u5", m, m, runtime.NamespaceMode_TARGET),
	} {
		_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: p})
		if codeOf(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	stopPod(t, d, podID)
	removePod(t, d, podID)
	if got := d.Network.Allocations(); slices.Contains(got, ip) {
		t.Errorf("address %s still allocated after removing the userns pod: %v", ip, got)
	}
}

func containerPID(t *testing.T, d *testrig.Daemon, id string) string {
	t.Helper()
	resp, err := d.Runtime.ContainerStatus(d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	info := resp.Info["info"]
	i := strings.Index(info, `"pid":`)
	rest := info[i+6:]
	return rest[:strings.IndexAny(rest, ",}")]
}
