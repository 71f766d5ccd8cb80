package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// nriDaemon starts a cricketd with NRI on, its socket and plugin
// directories in the daemon's own directory.
func nriDaemon(t *testing.T, requestTimeout time.Duration) (*testrig.Daemon, string) {
	t.Helper()
	var socket string
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Configure: func(c *config.Config) {
		dir := filepath.Dir(c.Root)
		socket = filepath.Join(dir, "nri.sock")
		c.NRI = config.NRI{
			Enable:                    true,
			SocketPath:                socket,
			PluginPath:                filepath.Join(dir, "nri-plugins"),
			PluginConfigPath:          filepath.Join(dir, "nri-conf"),
			PluginRegistrationTimeout: config.Duration(5 * time.Second),
			PluginRequestTimeout:      config.Duration(requestTimeout),
		}
	}})
	return d, socket
}

// nriPlugin is a running test plugin (internal/testnri) and the events
// it recorded.
type nriPlugin struct {
	events string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startNRIPlugin runs the test plugin against the socket with args and
// waits until cricket has synchronized it.
func startNRIPlugin(t *testing.T, socket, idx, name string, args ...string) *nriPlugin {
	t.Helper()
	p := &nriPlugin{events: filepath.Join(t.TempDir(), "events"), exited: make(chan struct{})}
	p.cmd = exec.Command(testrig.NRIPlugin(t), append([]string{"-socket", socket, "-idx", idx, "-name", name, "-events", p.events}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	p.wait(t, "Synchronize")
	return p
}

// lines are the events the plugin recorded, one "Event pod container
// extra..." each ("-" for no pod or container).
func (p *nriPlugin) lines() []string {
	b, _ := os.ReadFile(p.events)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// wait waits for an event line that starts with prefix and returns it.
func (p *nriPlugin) wait(t *testing.T, prefix string) string {
	t.Helper()
	var found string
	waitFor(t, 10*time.Second, "NRI plugin event "+prefix, func() bool {
		for _, l := range p.lines() {
			if strings.HasPrefix(l, prefix) {
				found = l
				return true
			}
		}
		return false
	}, func() string { return "events: " + strings.Join(p.lines(), "; ") })
	return found
}

// waitExit waits for the plugin process to exit: cricket closed its
// connection.
func (p *nriPlugin) waitExit(t *testing.T, why string) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("NRI plugin still connected: %s", why)
	}
}

func TestNRIPluginSeesALifeAndAdjustsIt(t *testing.T) {
	d, socket := nriDaemon(t, 2*time.Second)
	img := busybox(t, d)
	// A pod from before the plugin is given to it when it registers.
	runPod(t, d, podConfig("nri-before"))
	p := startNRIPlugin(t, socket, "10", "inject",
		"-env", "NRI_INJECTED=hello", "-reject", "unwelcome",
		"-update-memory", strconv.Itoa(96<<20), "-started-shares", "300")
	if sync := p.wait(t, "Synchronize"); !strings.Contains(sync, "nri-before") {
		t.Errorf("plugin was synchronized with %q, want the pod nri-before", sync)
	}

	pod := podConfig("nri-pod")
	pod.Linux.CgroupParent = d.CgroupParent("")
	podID := runPod(t, d, pod)
	id := runContainer(t, d, podID, pod, ctrConfig("app", img, "sleep", "3600"))
	if got := execOut(t, d, id, "sh", "-c", "echo $NRI_INJECTED"); got != "hello" {
		t.Errorf("the container sees NRI_INJECTED=%q, want the plugin's hello", got)
	}
	// The plugin asks for CPU shares of its own when the container starts.
	p.wait(t, "UpdateContainers nri-pod app failed=0 err=<nil>")
	if got := containerStatus(t, d, id).GetResources().GetLinux().GetCpuShares(); got != 300 {
		t.Errorf("CPU shares in the status = %d after the plugin's update, want 300", got)
	}
	checkLimits(t, "plugin's update", filepath.Join(pod.Linux.CgroupParent, id), []cgroupLimit{
		{"cpu", "cpu.shares", "cpu.weight", []string{"300"}, sharesAsWeight(300)},
	})
	// The plugin adds a memory limit to a resource update.
	if _, err := d.Runtime.UpdateContainerResources(d.Ctx(), &runtime.UpdateContainerResourcesRequest{
		ContainerId: id, Linux: &runtime.LinuxContainerResources{CpuShares: 512}}); err != nil {
		t.Fatal(err)
	}
	if r := containerStatus(t, d, id).GetResources().GetLinux(); r.GetCpuShares() != 512 || r.GetMemoryLimitInBytes() != 96<<20 {
		t.Errorf("resources after the update = %v, want the request's 512 shares and the plugin's 96 MiB", r)
	}
	checkLimits(t, "plugin's limit", filepath.Join(pod.Linux.CgroupParent, id), []cgroupLimit{
		{"memory", "memory.limit_in_bytes", "memory.max", []string{strconv.Itoa(96 << 20)}, []string{strconv.Itoa(96 << 20)}},
	})
	if _, err := d.Runtime.UpdatePodSandboxResources(d.Ctx(), &runtime.UpdatePodSandboxResourcesRequest{
		PodSandboxId: podID, Resources: &runtime.LinuxContainerResources{CpuShares: 1024}}); err != nil {
		t.Fatal(err)
	}
	p.wait(t, "UpdatePodSandbox nri-pod - shares=1024")

	// A plugin's refusal fails the creation, names the plugin and leaves
	// nothing: no snapshot, containerd container, mount or cgroup, the
	// container is not listed and its name is free.
	before := d.Resources(t, pod.Linux.CgroupParent)
	for range 2 {
		_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: ctrConfig("unwelcome", img, "true"), SandboxConfig: pod})
		if codeOf(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `"10-inject"`) || !strings.Contains(err.Error(), "containers named unwelcome are not welcome") {
			t.Fatalf("CreateContainer refused by the plugin: %v, want FailedPrecondition naming plugin 10-inject and its reason", err)
		}
	}
	resp, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{Filter: &runtime.ContainerFilter{PodSandboxId: podID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Containers) != 1 || resp.Containers[0].Id != id {
		t.Errorf("containers after the refusals: %v, want app alone", resp.Containers)
	}
	if diff := before.Diff(d.Resources(t, pod.Linux.CgroupParent)); diff != "" {
		t.Errorf("refused creations left behind:\n%s", diff)
	}

	stopAndRemoveContainer(t, d, id)
	stopPod(t, d, podID)
	stopPod(t, d, podID) // kubelet stops pods more than once
	removePod(t, d, podID)
	p.wait(t, "RemovePodSandbox nri-pod")
	var got []string
	for _, l := range p.lines() {
		if f := strings.Fields(l); len(f) >= 3 && f[1] == "nri-pod" {
			got = append(got, strings.Join(f[:3], " "))
		}
		if strings.HasPrefix(l, "StartContainer nri-pod app") && !strings.Contains(l, "pid=true") {
			t.Errorf("StartContainer without the container's pid: %q", l)
		}
	}
	want := []string{
		"RunPodSandbox nri-pod -",
		"CreateContainer nri-pod app", "PostCreateContainer nri-pod app",
		"StartContainer nri-pod app", "PostStartContainer nri-pod app",
		"UpdateContainers nri-pod app",
		"UpdateContainer nri-pod app", "PostUpdateContainer nri-pod app",
		"UpdatePodSandbox nri-pod -",
		// Each refused creation is undone for the plugins.
		"CreateContainer nri-pod unwelcome", "StopContainer nri-pod unwelcome", "RemoveContainer nri-pod unwelcome",
		"CreateContainer nri-pod unwelcome", "StopContainer nri-pod unwelcome", "RemoveContainer nri-pod unwelcome",
		"StopContainer nri-pod app", "RemoveContainer nri-pod app",
		"StopPodSandbox nri-pod -", "RemovePodSandbox nri-pod -",
	}
	if !slices.Equal(got, want) {
		t.Errorf("the plugin saw\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// At shutdown cricketd closes the plugin's connection and removes its
	// socket.
	d.Stop()
	p.waitExit(t, "after cricketd stopped")
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("NRI socket after shutdown: %v, want it removed", err)
	}
	noRaces(t, d)
}

// noRaces fails the test if the race detector reported on the stopped
// daemon (the test binary, and so cricketd, runs with -race).
func noRaces(t *testing.T, d *testrig.Daemon) {
	t.Helper()
	if d.Grep("WARNING: DATA RACE") {
		t.Error("the race detector reported on cricketd (see its log)")
	}
}

func TestNRIPluginThatHangsOrDiesCostsAtMostItsTimeout(t *testing.T) {
	const timeout = time.Second
	d, socket := nriDaemon(t, timeout)
	img := busybox(t, d)
	hung := startNRIPlugin(t, socket, "20", "hang", "-hang-create")
	dead := startNRIPlugin(t, socket, "30", "dead")

	// A plugin that dies is dropped when its connection closes.
	dead.cmd.Process.Signal(syscall.SIGKILL)
	dead.waitExit(t, "killed")

	start := time.Now()
	pod := podConfig("nri-hang")
	podID := runPod(t, d, pod)
	id := createContainer(t, d, podID, pod, ctrConfig("app", img, "sleep", "3600"))
	took := time.Since(start)
	hung.wait(t, "CreateContainer nri-hang app")
	// The hung plugin costs one request timeout, and no more: the margin
	// is for a pod start on a busy machine.
	if took < timeout || took > timeout+4*time.Second {
		t.Errorf("RunPodSandbox and CreateContainer took %s with a plugin hung in CreateContainer, want about the request timeout (%s)", took, timeout)
	}
	startContainer(t, d, id)
	hung.waitExit(t, "after its request timed out")
	if !d.Grep("closing plugin 20-hang, failed to handle CreateContainer request") {
		t.Errorf("the log does not name the plugin that hung")
	}
	// Dropped, it costs nothing more.
	start = time.Now()
	createContainer(t, d, podID, pod, ctrConfig("second", img, "sleep", "3600"))
	if took := time.Since(start); took >= timeout {
		t.Errorf("a creation after the hung plugin was dropped took %s", took)
	}
	d.Stop()
	noRaces(t, d)
}
