package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// The limits of one object's metadata, as documented (sandbox.MaxLabelsBytes,
// sandbox.MaxAnnotationsBytes).
const (
	labelsLimit      = 256 << 10
	annotationsLimit = 256 << 10
)

// that take nearly all of an object's label limit.
func fullLabels(prefix string) map[string]string {
	l := map[string]string{}
	total := 0
	for i := 0; ; i++ {
		k, v := fmt.Sprintf("example.com/%s-%05d", prefix, i), strings.Repeat("v", 63)
		if total+len(k)+len(v) > labelsLimit {
			return l
		}
		l[k] = v
		total += len(k) + len(v)
	}
}

// fullAnnotations returns one annotation that takes all of an object's
// annotation limit.
func fullAnnotations(key string) map[string]string {
	return map[string]string{key: strings.Repeat("a", annotationsLimit-len(key))}
}

// many returns n entries of about size bytes each.
func many(n, size int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%06d", i)] = strings.Repeat("v", size)
	}
	return m
}

// TestOversizedMetadataIsRefusedAndListsKeepAnswering: metadata that would
// make list responses too large for any client is refused at creation
// (per object with InvalidArgument, for all objects together with
// ResourceExhausted), and with the largest objects that are accepted,
// every list, status and event RPC still answers.
func TestOversizedMetadataIsRefusedAndListsKeepAnswering(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	img := busybox(t, d)

	// An event stream open from the start must outlive all of it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	evs, err := d.Runtime.GetContainerEvents(ctx, &runtime.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var evMu sync.Mutex
	var seen []string
	var evErr error
	go func() {
		for {
			e, err := evs.Recv()
			evMu.Lock()
			if err != nil {
				evErr = err
				evMu.Unlock()
				return
			}
			seen = append(seen, e.ContainerId+" "+e.ContainerEventType.String())
			evMu.Unlock()
		}
	}()
	sawEvent := func(id string, typ runtime.ContainerEventType) bool {
		evMu.Lock()
		defer evMu.Unlock()
		if evErr != nil {
			t.Fatalf("the event stream ended: %v", evErr)
		}
		return slices.Contains(seen, id+" "+typ.String())
	}

	// Too large for one object: each request is below the 16 MiB message
	// limit, and each is refused naming the field.
	env := make([]*runtime.KeyValue, 100000)
	for i := range env {
		env[i] = &runtime.KeyValue{Key: fmt.Sprintf("E%06d", i), Value: []byte(strings.Repeat("e", 120))}
	}
	huge := map[string]string{"app": strings.Repeat("x", 15<<20)}
	for i, tc := range []struct {
		name, field string
		pod         func(*runtime.PodSandboxConfig)
		ctr         func(*runtime.ContainerConfig)
	}{
		{name: "pod with 100k annotations", field: "config.annotations", pod: func(c *runtime.PodSandboxConfig) { c.Annotations = many(100000, 100) }},
		{name: "pod with 100k labels", field: "config.labels", pod: func(c *runtime.PodSandboxConfig) { c.Labels = many(100000, 100) }},
		{name: "pod with a 15 MiB label", field: "config.labels", pod: func(c *runtime.PodSandboxConfig) { c.Labels = huge }},
		{name: "container with 100k annotations", field: "config.annotations", ctr: func(c *runtime.ContainerConfig) { c.Annotations = many(100000, 100) }},
		{name: "container with 100k labels", field: "config.labels", ctr: func(c *runtime.ContainerConfig) { c.Labels = many(100000, 100) }},
		{name: "container with 100k env vars", field: "config.envs", ctr: func(c *runtime.ContainerConfig) { c.Envs = env }},
		{name: "container with a 15 MiB label", field: "config.labels", ctr: func(c *runtime.ContainerConfig) { c.Labels = huge }},
	} {
		var err error
		if tc.pod != nil {
			c := podConfig(fmt.Sprintf("oversized%d", i))
			tc.pod(c)
			_, err = d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: c})
		} else {
			c := ctrConfig("oversized", img, "true")
			tc.ctr(c)
			// Without a pod: validation comes before the pod is looked up.
			_, err = d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: "nosuchpod", Config: c})
		}
		if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) || len(err.Error()) > 1024 {
			t.Errorf("%s: %.300v; want a short InvalidArgument naming %q", tc.name, err, tc.field)
		}
	}

	// The largest objects accepted, all in one pod (whose status and
	// events carry every one of them), until the node has no room left.
	pod := podConfig("biggest")
	pod.Labels, pod.Annotations = fullLabels("pod"), fullAnnotations("example.com/pod")
	podID := runPod(t, d, pod)
	var ids []string
	var refused error
	for i := range 40 {
		cfg := ctrConfig(fmt.Sprintf("big-%02d", i), img, "sleep", "3600")
		cfg.Labels, cfg.Annotations = fullLabels("ctr"), fullAnnotations("example.com/ctr")
		cfg.Image.Annotations = fullAnnotations("example.com/image")
		resp, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
		if err != nil {
			refused = err
			break
		}
		ids = append(ids, resp.ContainerId)
	}
	if len(ids) < 5 {
		t.Fatalf("after %d of the largest containers: %v; want at least 5", len(ids), refused)
	}
	// Without a bound on all objects together this goes on, and the
	// lists below fail.
	if codeOf(refused) != codes.ResourceExhausted {
		t.Errorf("after %d of the largest containers: %v; want ResourceExhausted", len(ids), refused)
	}
	t.Logf("%d containers of about 790 KiB of metadata each before: %v", len(ids), refused)
	for _, id := range ids {
		startContainer(t, d, id)
	}

	// Every list, status and event RPC answers, with everything in it.
	lc, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{})
	if err != nil || len(lc.Containers) != len(ids) {
		t.Fatalf("ListContainers: %d containers, %v", len(lc.GetContainers()), err)
	}
	if n := len(lc.Containers[0].Labels); n != len(fullLabels("ctr")) {
		t.Errorf("ListContainers: %d labels, want %d", n, len(fullLabels("ctr")))
	}
	lp, err := d.Runtime.ListPodSandbox(d.Ctx(), &runtime.ListPodSandboxRequest{})
	if err != nil || len(lp.Items) != 1 || len(lp.Items[0].Annotations["example.com/pod"]) == 0 {
		t.Fatalf("ListPodSandbox: %v", err)
	}
	for _, verbose := range []bool{false, true} {
		ps, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: verbose})
		if err != nil || len(ps.ContainersStatuses) != len(ids) {
			t.Fatalf("PodSandboxStatus (verbose %v): %d container statuses, %v", verbose, len(ps.GetContainersStatuses()), err)
		}
	}
	waitFor(t, time.Minute, "stats of every container", func() bool {
		st, err := d.Runtime.ListContainerStats(d.Ctx(), &runtime.ListContainerStatsRequest{})
		if err != nil {
			t.Fatalf("ListContainerStats: %v", err)
		}
		return len(st.Stats) == len(ids)
	})
	if _, err := d.Runtime.ListPodSandboxStats(d.Ctx(), &runtime.ListPodSandboxStatsRequest{}); err != nil {
		t.Errorf("ListPodSandboxStats: %v", err)
	}
	last := ids[len(ids)-1]
	waitFor(t, time.Minute, "the open event stream to deliver the last start", func() bool {
		return sawEvent(last, runtime.ContainerEventType_CONTAINER_STARTED_EVENT)
	})
	// A new subscriber gets events too, each carrying all the pod's
	// container statuses.
	evs2, err := d.Runtime.GetContainerEvents(ctx, &runtime.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: last, Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	for {
		e, err := evs2.Recv()
		if err != nil {
			t.Fatalf("a new event stream: %v", err)
		}
		if e.ContainerId == last && e.ContainerEventType == runtime.ContainerEventType_CONTAINER_STOPPED_EVENT {
			if len(e.ContainersStatuses) != len(ids) {
				t.Errorf("the STOPPED event carries %d container statuses, want %d", len(e.ContainersStatuses), len(ids))
			}
			break
		}
	}
	waitFor(t, time.Minute, "the first event stream to deliver the stop", func() bool {
		return sawEvent(last, runtime.ContainerEventType_CONTAINER_STOPPED_EVENT)
	})

	// Removing a container gives its room back.
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: last}); err != nil {
		t.Fatal(err)
	}
	cfg := ctrConfig("big-again", img, "sleep", "3600")
	cfg.Labels, cfg.Annotations = fullLabels("ctr"), fullAnnotations("example.com/ctr")
	cfg.Image.Annotations = fullAnnotations("example.com/image")
	createContainer(t, d, podID, pod, cfg)

	// After a crash, the restored pod and containers take their room back:
	// the node is as full as before, and everything still lists.
	d.Kill()
	d.Start()
	cfg.Metadata.Name = "big-after-restart"
	_, err = d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if codeOf(err) != codes.ResourceExhausted {
		t.Errorf("after a restart, one more of the largest containers: %v; want ResourceExhausted", err)
	}
	lc, err = d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{})
	if err != nil || len(lc.Containers) != len(ids) {
		t.Errorf("ListContainers after a restart: %d containers, %v", len(lc.GetContainers()), err)
	}
}
