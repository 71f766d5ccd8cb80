package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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

func TestUserNamespacePods(t *testing.T) { forEachHandler(t, testUserNamespacePods) }

func testUserNamespacePods(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	m := []*runtime.IDMapping{{ContainerId: 0, HostId: 200000, Length: 65536}}
	pod := usernsPod("userns", m, m, runtime.NamespaceMode_POD)
	podID := runPodOn(t, d, pod, handler)

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
	nodeID := runPodOn(t, d, node, handler)
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
	if got := d.Network.Allocations(t); slices.Contains(got, ip) {
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

// kubelet runs hostUsers: false pods only on a handler that advertises user
// namespaces, and then asks for every mount of theirs to be idmapped with
// the pod's mappings: its /etc/hosts, the termination log, volumes.
func TestIdmappedMounts(t *testing.T) { forEachHandler(t, testIdmappedMounts) }

func testIdmappedMounts(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	if !handlerFeatures(t, d, handler).GetUserNamespaces() {
		t.Fatalf("user namespaces not advertised on handler %s", handler)
	}
	m := []*runtime.IDMapping{{ContainerId: 0, HostId: 300000, Length: 65536}}
	pod := usernsPod("idmap", m, m, runtime.NamespaceMode_POD)
	podID := runPodOn(t, d, pod, handler)
	before := d.Resources(t)

	// A volume and a file owned by host root, as kubelet's are.
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "owned-by-root"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(t.TempDir(), "etc-hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost idmap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := ctrConfig("c", img, "sleep", "3600")
	cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{NamespaceOptions: pod.Linux.SecurityContext.NamespaceOptions}
	cfg.Mounts = []*runtime.Mount{
		{ContainerPath: "/vol", HostPath: vol, UidMappings: m, GidMappings: m},
		{ContainerPath: "/etc/hosts", HostPath: hosts, UidMappings: m, GidMappings: m},
	}
	c := runContainer(t, d, podID, pod, cfg)
	// Host root's files are the container root's; without the idmap they
	// would belong to the overflow user and be read-only to it.
	if got := execOut(t, d, c, "stat", "-c", "%u:%g", "/vol/owned-by-root", "/etc/hosts"); strings.Join(strings.Fields(got), " ") != "0:0 0:0" {
		t.Errorf("owners inside the container: %q, want 0:0 for both", got)
	}
	execOut(t, d, c, "sh", "-c", "echo hi > /vol/written && echo more >> /vol/owned-by-root")
	if fi, err := os.Stat(filepath.Join(vol, "written")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("a file the container's root wrote: %v %v, want owned by host root", fi, err)
	}
	if got := execOut(t, d, c, "cat", "/etc/hosts"); !strings.Contains(got, "idmap") {
		t.Errorf("/etc/hosts in the container: %q", got)
	}

	// Mappings other than the pod's, and mappings without a pod user
	// namespace, are bad input.
	other := []*runtime.IDMapping{{ContainerId: 0, HostId: 400000, Length: 65536}}
	bad := ctrConfig("bad", img, "true")
	bad.Linux.SecurityContext = cfg.Linux.SecurityContext
	bad.Mounts = []*runtime.Mount{{ContainerPath: "/vol", HostPath: vol, UidMappings: other, GidMappings: other}}
	_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: bad, SandboxConfig: pod})
	if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "mappings") {
		t.Errorf("mappings other than the pod's: %v, want InvalidArgument", err)
	}
	plain := podConfig("plain-idmap")
	plainID := runPodOn(t, d, plain, handler)
	bad.Mounts[0].UidMappings, bad.Mounts[0].GidMappings = m, m
	bad.Linux.SecurityContext = nil
	_, err = d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: plainID, Config: bad, SandboxConfig: plain})
	if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "user namespace") {
		t.Errorf("idmapped mount in a pod without a user namespace: %v, want InvalidArgument", err)
	}
	stopPod(t, d, plainID)
	removePod(t, d, plainID)

	// The clones survive a restart of cricketd and go with the container;
	// the host's files stay.
	d.Kill()
	d.Start()
	stopAndRemoveContainer(t, d, c)
	if diff := before.Diff(d.Resources(t)); diff != "" {
		t.Errorf("left after removing the container:\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(vol, "written")); err != nil {
		t.Errorf("the volume lost a file when the container went: %v", err)
	}
}
