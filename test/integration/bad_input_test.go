package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// TestBadInputIsRefusedBeforeAnything: each bad input fails the call that
// carries it with InvalidArgument naming the field, and leaves nothing
// behind: no pod, no container, nothing in containerd, no mount, no
// network namespace, no address.
func TestBadInputIsRefusedBeforeAnything(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	img := busybox(t, d)
	data := d.Image(t, "subpaths:1", testrig.ImageSpec{
		Files:    map[string]string{"/..data/hello.txt": "hello from ..data\n"},
		Symlinks: map[string]string{"/loop": "loop", "/ping": "pong", "/pong": "ping"},
	})
	profiles := t.TempDir()
	notJSON := filepath.Join(profiles, "not.json")
	if err := os.WriteFile(notJSON, []byte("defaultAction: SCMP_ACT_ALLOW\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	parent := d.CgroupParent("")
	pod := podConfig("badinput")
	pod.Linux.CgroupParent = parent
	podID := runPod(t, d, pod)
	before := d.Resources(t, parent)

	// Each bad object has a name of its own, so that one accepted by
	// mistake does not make the next fail for its name.
	runBad := func(edit func(*runtime.PodSandboxConfig)) func(string) error {
		return func(name string) error {
			c := podConfig(name)
			c.Linux.CgroupParent = parent
			edit(c)
			_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: c})
			return err
		}
	}
	createBad := func(edit func(*runtime.ContainerConfig)) func(string) error {
		return func(name string) error {
			c := ctrConfig(name, img, "true")
			edit(c)
			_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: c, SandboxConfig: pod})
			return err
		}
	}
	resources := func(edit func(*runtime.LinuxContainerResources)) func(*runtime.ContainerConfig) {
		return func(c *runtime.ContainerConfig) {
			c.Linux.Resources = &runtime.LinuxContainerResources{}
			edit(c.Linux.Resources)
		}
	}
	localhost := func(p string) *runtime.SecurityProfile {
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: p}
	}
	subPath := func(sub string) func(*runtime.ContainerConfig) {
		return func(c *runtime.ContainerConfig) {
			c.Mounts = []*runtime.Mount{{ContainerPath: "/data", Image: &runtime.ImageSpec{Image: data}, ImageSubPath: sub}}
		}
	}
	for i, tc := range []struct {
		name, field string
		call        func(name string) error
	}{
		{"log_path over 255 bytes", "log_path", createBad(func(c *runtime.ContainerConfig) { c.LogPath = strings.Repeat("l", 252) + ".log" })},
		{"log_path with NUL", "log_path", createBad(func(c *runtime.ContainerConfig) { c.LogPath = "c/0\x00.log" })},
		{"log_path with .. inside", "log_path", createBad(func(c *runtime.ContainerConfig) { c.LogPath = "a/../b.log" })},
		{"hostname over 64 characters", "config.hostname", runBad(func(c *runtime.PodSandboxConfig) { c.Hostname = strings.Repeat("h", 65) })},
		{"newline in hostname", "config.hostname", runBad(func(c *runtime.PodSandboxConfig) { c.Hostname = "web\n10.0.0.66 bank" })},
		{"pod name with NUL", "config.metadata.name", runBad(func(c *runtime.PodSandboxConfig) { c.Metadata.Name = "bad\x00pod" })},
		{"namespace with NUL", "config.metadata.namespace", runBad(func(c *runtime.PodSandboxConfig) { c.Metadata.Namespace = "ns\x00" })},
		{"newline in a DNS server", "config.dns_config.servers", runBad(func(c *runtime.PodSandboxConfig) {
			c.DnsConfig = &runtime.DNSConfig{Servers: []string{"10.0.0.10\nnameserver 10.0.0.66"}}
		})},
		{"NUL in a DNS search", "config.dns_config.searches", runBad(func(c *runtime.PodSandboxConfig) {
			c.DnsConfig = &runtime.DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"svc\x00cluster.local"}}
		})},
		{"newline in a DNS option", "config.dns_config.options", runBad(func(c *runtime.PodSandboxConfig) {
			c.DnsConfig = &runtime.DNSConfig{Servers: []string{"10.0.0.10"}, Options: []string{"ndots:5\nsearch evil"}}
		})},
		{"sysctl value with a newline", "net.ipv4.ip_local_port_range", runBad(func(c *runtime.PodSandboxConfig) {
			c.Linux.Sysctls = map[string]string{"net.ipv4.ip_local_port_range": "1024\n65000"}
		})},
		{"sysctl value with NUL", "kernel.shm_rmid_forced", runBad(func(c *runtime.PodSandboxConfig) {
			c.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1\x00"}
		})},
		{"pod seccomp profile that does not exist", "seccomp", runBad(func(c *runtime.PodSandboxConfig) {
			c.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{Seccomp: localhost(filepath.Join(profiles, "missing.json"))}
		})},
		{"cpuset_cpus beyond the host's CPUs", "cpuset_cpus", createBad(resources(func(r *runtime.LinuxContainerResources) { r.CpusetCpus = "0,4095" }))},
		{"malformed cpuset_cpus", "cpuset_cpus", createBad(resources(func(r *runtime.LinuxContainerResources) { r.CpusetCpus = "0-" }))},
		{"cpuset_mems beyond the host's nodes", "cpuset_mems", createBad(resources(func(r *runtime.LinuxContainerResources) { r.CpusetMems = "0-63" }))},
		{"seccomp profile that does not exist", "seccomp", createBad(func(c *runtime.ContainerConfig) {
			c.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Seccomp: localhost(filepath.Join(profiles, "missing.json"))}
		})},
		{"seccomp profile that is not JSON", "seccomp", createBad(func(c *runtime.ContainerConfig) {
			c.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Seccomp: localhost(notJSON)}
		})},
		{"image_sub_path that is a self-referencing symlink", "image_sub_path", createBad(subPath("loop"))},
		{"image_sub_path in a symlink cycle", "image_sub_path", createBad(subPath("ping"))},
		{"host PID namespace in a pod without it", "namespace_options.pid", createBad(func(c *runtime.ContainerConfig) {
			c.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_NODE}}
		})},
	} {
		err := tc.call(fmt.Sprintf("bad%d", i))
		if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v; want InvalidArgument naming %q", tc.name, err, tc.field)
		}
	}

	if got := listPods(t, d, nil); len(got) != 1 || got[0].Id != podID {
		t.Errorf("pods after the bad requests: %v", got)
	}
	resp, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{})
	if err != nil || len(resp.Containers) != 0 {
		t.Errorf("containers after the bad requests: %v %v", resp.GetContainers(), err)
	}
	if diff := before.Diff(d.Resources(t, parent)); diff != "" {
		t.Errorf("bad requests left behind:\n%s", diff)
	}

	// A name that only starts with two dots is a name, not an escape:
	// Kubernetes' projected volumes keep their files in "..data".
	cfg := ctrConfig("dotdotdata", img, "sleep", "3600")
	subPath("..data")(cfg)
	id := runContainer(t, d, podID, pod, cfg)
	if got := execOut(t, d, id, "cat", "/data/hello.txt"); got != "hello from ..data" {
		t.Errorf("image_sub_path ..data shows %q", got)
	}
}

// fullLabels returns valid labels (qualified keys, 63-character values)

// TestLogHardLinkGetsItsOwnFile: a hard link placed at a container's log
// path, to a file outside the log directory, never receives the
// container's output, at StartContainer or at ReopenContainerLog: the
// name gets a new file of its own, and the linked file stays as it was.
func TestLogHardLinkGetsItsOwnFile(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	img := busybox(t, d)
	podID, pod := podWithLogs(t, d, "hardlink")
	outside := t.TempDir() // the same file system as the log directory: /tmp
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkVictim := func(logPath string) {
		t.Helper()
		if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
			t.Fatalf("the linked file outside the log directory now holds %q", b)
		}
		var v, l syscall.Stat_t
		if err := syscall.Stat(victim, &v); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Stat(logPath, &l); err != nil {
			t.Fatal(err)
		}
		if v.Ino == l.Ino || v.Nlink != 1 || l.Nlink != 1 {
			t.Fatalf("log inode %d (%d links), linked file inode %d (%d links): want two files of one name each", l.Ino, l.Nlink, v.Ino, v.Nlink)
		}
	}

	cfg := ctrConfig("linked", img, "sh", "-c", "i=0; while :; do echo line$i; i=$((i+1)); sleep 0.1; done")
	cfg.LogPath = "linked/0.log"
	id := createContainer(t, d, podID, pod, cfg)
	logPath := filepath.Join(pod.LogDirectory, cfg.LogPath)
	if err := os.Mkdir(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, logPath); err != nil {
		t.Fatal(err)
	}
	startContainer(t, d, id)
	waitFor(t, 30*time.Second, "output in the container's log file", func() bool { return len(logLines(t, logPath)) >= 3 })
	if lines := logLines(t, logPath); lines[0] != "stdout: line0" {
		t.Fatalf("log starts with %q", lines[0])
	}
	checkVictim(logPath)

	// Rotation as kubelet does it, with a link put in the new file's place.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, logPath); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.ReopenContainerLog(d.Ctx(), &runtime.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "output in the reopened log file", func() bool { return len(logLines(t, logPath)) >= 3 })
	checkVictim(logPath)
}
