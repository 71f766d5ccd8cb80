package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// httpdImage serves /www/index.html ("ok <name>") with busybox httpd.
func httpdImage(t *testing.T, d *testrig.Daemon, port int) string {
	t.Helper()
	return d.Image(t, fmt.Sprintf("httpd:%d", port), testrig.ImageSpec{
		Files: map[string]string{"/www/index.html": "ok from the pod\n"},
		Cmd:   []string{"httpd", "-f", "-p", strconv.Itoa(port), "-h", "/www"},
	})
}

// freePort returns a TCP port that is free on the host right now, for a
// host port mapping. It is taken below the kernel's ephemeral range
// (ip_local_port_range, 32768 and up by default): a mapping DNATs
// connections to its port on 127.0.0.1, and an ephemeral port handed to
// another test's listener (a registry on 127.0.0.1:0) after this one was
// probed would send that test's connections into the pod.
func freePort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port between 20000 and 32000")
	return 0
}

// httpGet fetches url until it answers (the server may still be starting).
func httpGet(t *testing.T, url string) string {
	t.Helper()
	body, err := httpGetWithin(url, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// httpGetWithin fetches url until it answers 200 or timeout passes; safe
// to call from any goroutine (it does not end the test).
func httpGetWithin(url string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				cancel()
				return string(b), nil
			}
			err = fmt.Errorf("status %d, body %q, %v", resp.StatusCode, b, rerr)
		}
		cancel()
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no HTTP answer from %s within %s: %w", url, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// forEachNetworkMode runs a networking test once with CNI plugins and once
// with the built-in bridge backend: both must behave the same.
func forEachNetworkMode(t *testing.T, test func(t *testing.T, nw *testrig.PodNetwork)) {
	for _, builtin := range []bool{false, true} {
		name := "cni"
		if builtin {
			name = "bridge"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nw := testrig.NewPodNetwork()
			nw.Builtin = builtin
			test(t, nw)
		})
	}
}

// natRulesOf returns the iptables nat rules that mention the sandbox
// (portmap's and the built-in bridge's both carry its ID).
func natRulesOf(t *testing.T, sandboxID string) []string {
	t.Helper()
	out, err := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v\n%s", err, out)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, sandboxID) || strings.Contains(l, sandboxID[:16]) {
			rules = append(rules, l)
		}
	}
	return rules
}

func TestPodNetworkHTTPHostPortDNSAndHostname(t *testing.T) {
	forEachNetworkMode(t, testPodNetworkHTTPHostPortDNSAndHostname)
}

func testPodNetworkHTTPHostPortDNSAndHostname(t *testing.T, nw *testrig.PodNetwork) {
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: nw})
	img := httpdImage(t, d, 80)
	hostPort := freePort(t)
	pod := podConfig("web")
	pod.PortMappings = []*runtime.PortMapping{{ContainerPort: 80, HostPort: int32(hostPort), Protocol: runtime.Protocol_TCP}}
	pod.DnsConfig = &runtime.DNSConfig{Servers: []string{"10.10.10.10"}, Searches: []string{"svc.test", "test"}, Options: []string{"ndots:5"}}
	podID := runPod(t, d, pod)
	ctr := runContainer(t, d, podID, pod, ctrConfig("httpd", img))
	ip := podStatus(t, d, podID).GetNetwork().GetIp()

	if got := httpGet(t, "http://"+net.JoinHostPort(ip, "80")+"/"); got != "ok from the pod\n" {
		t.Fatalf("pod IP answered %q", got)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort)); got != "ok from the pod\n" {
		t.Fatalf("host port answered %q", got)
	}
	if len(natRulesOf(t, podID)) == 0 {
		t.Error("no nat rule names the sandbox while its host port works")
	}
	// The pod reaches the bridge's gateway address (its default route).
	if out := execOut(t, d, ctr, "ip", "route"); !strings.Contains(out, "default via "+nw.Gateway) {
		t.Errorf("routes in the pod:\n%s", out)
	}

	if got := execOut(t, d, ctr, "hostname"); got != "web" {
		t.Errorf("hostname in container = %q, want web", got)
	}
	resolv := execOut(t, d, ctr, "cat", "/etc/resolv.conf")
	for _, want := range []string{"nameserver 10.10.10.10", "search svc.test test", "options ndots:5"} {
		if !strings.Contains(resolv, want) {
			t.Errorf("resolv.conf lacks %q:\n%s", want, resolv)
		}
	}
	hosts := execOut(t, d, ctr, "cat", "/etc/hosts")
	if !strings.Contains(hosts, ip+"\tweb") || !strings.Contains(hosts, "127.0.0.1\tlocalhost") {
		t.Errorf("/etc/hosts lacks the pod entry or localhost:\n%s", hosts)
	}
	if shm := execOut(t, d, ctr, "df", "-k", "/dev/shm"); !strings.Contains(shm, "65536") {
		t.Errorf("/dev/shm is not a 64 MiB tmpfs:\n%s", shm)
	}
	// The container sees eth0 with the pod IP and lo up.
	if addrs := execOut(t, d, ctr, "ip", "addr"); !strings.Contains(addrs, ip+"/") || !strings.Contains(addrs, "127.0.0.1/8") {
		t.Errorf("addresses in the pod:\n%s", addrs)
	}

	stopPod(t, d, podID)
	if reachable(ip) {
		t.Error("pod IP still answers after StopPodSandbox")
	}
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort), time.Second)
	if err == nil {
		c.Close()
		t.Error("host port still forwards after StopPodSandbox")
	}
	if rules := natRulesOf(t, podID); len(rules) != 0 {
		t.Errorf("nat rules of the sandbox left after StopPodSandbox:\n%s", strings.Join(rules, "\n"))
	}
	if st := containerStatus(t, d, ctr); st.State != runtime.ContainerState_CONTAINER_EXITED {
		t.Errorf("container after StopPodSandbox: %v", st.State)
	}
	removePod(t, d, podID)
	if _, err := d.Runtime.ContainerStatus(d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: ctr}); err == nil {
		t.Error("container survived RemovePodSandbox")
	}
}

// TestBridgePodSurvivesCrash: with the built-in backend, a pod keeps its
// address and host port across a kill -9 of cricketd, and removing it
// afterwards leaves no veth, address or nat rule.
func TestBridgePodSurvivesCrash(t *testing.T) {
	t.Parallel()
	nw := testrig.NewPodNetwork()
	nw.Builtin = true
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: nw})
	img := httpdImage(t, d, 8080)
	if _, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: d.PauseImage}}); err != nil {
		t.Fatal(err)
	}
	base := d.Resources(t)
	hostPort := freePort(t)
	pod := podConfig("bridge-crash")
	pod.PortMappings = []*runtime.PortMapping{{ContainerPort: 8080, HostPort: int32(hostPort), HostIp: "127.0.0.1"}}
	podID := runPod(t, d, pod)
	runContainer(t, d, podID, pod, ctrConfig("httpd", img))
	ip := podStatus(t, d, podID).GetNetwork().GetIp()
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort))

	d.Kill()
	d.Start()
	if got := podStatus(t, d, podID).GetNetwork().GetIp(); got != ip {
		t.Errorf("pod IP after restart = %q, want %q", got, ip)
	}
	if got := httpGet(t, "http://"+net.JoinHostPort(ip, "8080")+"/"); got != "ok from the pod\n" {
		t.Errorf("pod IP after restart answered %q", got)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", hostPort)); got != "ok from the pod\n" {
		t.Errorf("host port after restart answered %q", got)
	}
	// A second pod gets another address.
	other := runPod(t, d, podConfig("bridge-crash-2"))
	if ip2 := podStatus(t, d, other).GetNetwork().GetIp(); ip2 == ip || ip2 == "" {
		t.Errorf("second pod's address %q (first %q)", ip2, ip)
	}
	for _, id := range []string{podID, other} {
		stopPod(t, d, id)
		removePod(t, d, id)
	}
	if diff := base.Diff(d.Resources(t)); diff != "" {
		t.Errorf("left behind:\n%s", diff)
	}
	if rules := natRulesOf(t, podID); len(rules) != 0 {
		t.Errorf("nat rules left:\n%s", strings.Join(rules, "\n"))
	}
}

func TestHostNetworkPod(t *testing.T) { forEachHandler(t, testHostNetworkPod) }

func testHostNetworkPod(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	port := freePort(t)
	img := httpdImage(t, d, port)
	pod := podConfig("hostnet")
	nso := &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE, Ipc: runtime.NamespaceMode_NODE, Pid: runtime.NamespaceMode_NODE}
	pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{NamespaceOptions: nso}
	podID := runPodOn(t, d, pod, handler)
	cfg := ctrConfig("httpd", img)
	cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{NamespaceOptions: nso}
	ctr := runContainer(t, d, podID, pod, cfg)

	// The host's network, IPC and PID namespaces; a mount namespace of
	// its own.
	for ns, host := range map[string]bool{"net": true, "ipc": true, "pid": true, "mnt": false} {
		want, _ := os.Readlink("/proc/self/ns/" + ns)
		if got := execOut(t, d, ctr, "readlink", "/proc/self/ns/"+ns); (got == want) != host {
			t.Errorf("%s namespace in the container %s, the host's %s: want the host's %v", ns, got, want, host)
		}
	}

	// A server in the pod listens on the host's loopback.
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "ok from the pod\n" {
		t.Fatalf("host network server answered %q", got)
	}
	host, _ := os.Hostname()
	if got := execOut(t, d, ctr, "hostname"); got != host {
		t.Errorf("hostname in a host-network pod = %q, want the host's %q", got, host)
	}
	if st := podStatus(t, d, podID); st.GetNetwork().GetIp() != "" ||
		st.GetLinux().GetNamespaces().GetOptions().GetNetwork() != runtime.NamespaceMode_NODE {
		t.Errorf("host-network pod status: %v", st)
	}
	if got := d.Network.Allocations(t); len(got) != 0 {
		t.Errorf("host-network pod allocated %v", got)
	}
	if ents, _ := os.ReadDir(d.Config.State + "/netns"); len(ents) != 0 {
		t.Errorf("host-network pod created a netns: %v", ents)
	}
	stopPod(t, d, podID)
	removePod(t, d, podID)
}

func TestCNIFailureLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	nw := testrig.NewPodNetwork()
	nw.FailADD = true
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: nw})
	pod := podConfig("cnifail")
	pod.Linux.CgroupParent = d.CgroupParent("")
	// Pull the sandbox image first so the baseline holds its snapshots.
	if _, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: d.PauseImage}}); err != nil {
		t.Fatal(err)
	}
	before := d.Resources(t, pod.Linux.CgroupParent)
	for range 3 {
		_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: pod})
		if err == nil || !strings.Contains(err.Error(), "injected ADD failure") {
			t.Fatalf("RunPodSandbox with a failing plugin: %v", err)
		}
	}
	if diff := before.Diff(d.Resources(t, pod.Linux.CgroupParent)); diff != "" {
		t.Fatalf("failed RunPodSandbox left behind:\n%s", diff)
	}
	if got := listPods(t, d, nil); len(got) != 0 {
		t.Fatalf("failed sandbox is listed: %v", got)
	}
}

func TestSandboxCyclesLeaveNothingBehind(t *testing.T) {
	forEachNetworkMode(t, func(t *testing.T, nw *testrig.PodNetwork) { testSandboxCyclesLeaveNothingBehind(t, nw, nil) })
}

// TestSandboxCyclesOnCricketShim: the same cycles on cricket's shim, with
// pause and with pinned sandboxes (a shim started ahead for each pod).
func TestSandboxCyclesOnCricketShim(t *testing.T) {
	for _, mode := range []string{config.SandboxModePause, config.SandboxModePinned} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			nw := testrig.NewPodNetwork()
			nw.Builtin = true
			testSandboxCyclesLeaveNothingBehind(t, nw, both(defaultOnCricketShim, func(c *config.Config) { c.SandboxMode = mode }))
		})
	}
}

func testSandboxCyclesLeaveNothingBehind(t *testing.T, nw *testrig.PodNetwork, configure func(*config.Config)) {
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: nw, Configure: configure})
	img := busybox(t, d)
	parent := d.CgroupParent("")
	if _, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: d.PauseImage}}); err != nil {
		t.Fatal(err)
	}
	before := d.Resources(t, parent)
	for i := range 20 {
		pod := podConfig(fmt.Sprintf("cycle-%d", i))
		pod.Linux.CgroupParent = parent
		podID := runPod(t, d, pod)
		runContainer(t, d, podID, pod, ctrConfig("sleeper", img, "sleep", "3600"))
		// Alternate: stop then remove, and remove without stopping.
		if i%2 == 0 {
			stopPod(t, d, podID)
		}
		removePod(t, d, podID)
	}
	after := d.Resources(t, parent)
	if diff := before.Diff(after); diff != "" {
		t.Fatalf("20 create/stop/remove cycles left behind:\n%s", diff)
	}
	if len(after.Shims) != 0 || len(after.IPs) != 0 || len(after.Veths) != 0 {
		t.Fatalf("after cycles: %+v", after)
	}
}

func TestPodSysctlsHandlersAndValidation(t *testing.T) {
	forEachHandler(t, testPodSysctlsHandlersAndValidation)
}

func testPodSysctlsHandlersAndValidation(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	pod := podConfig("sysctl")
	pod.Linux.Sysctls = map[string]string{"kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100", "net.ipv4.ip_unprivileged_port_start": "100"}
	podID := runPodOn(t, d, pod, handler)
	ctr := runContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))
	for path, want := range map[string]string{
		"/proc/sys/kernel/shm_rmid_forced":              "1",
		"/proc/sys/fs/mqueue/msg_max":                   "100",
		"/proc/sys/net/ipv4/ip_unprivileged_port_start": "100",
	} {
		if got := execOut(t, d, ctr, "cat", path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	// The host's values are untouched.
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); strings.TrimSpace(string(b)) == "100" {
		t.Error("a pod sysctl changed the host")
	}

	for name, mut := range map[string]func(*runtime.PodSandboxConfig){
		"not namespaced": func(c *runtime.PodSandboxConfig) { c.Linux.Sysctls = map[string]string{"kernel.pid_max": "100000"} },
		"net with host network": func(c *runtime.PodSandboxConfig) {
			c.Linux.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
			hostNS(c, true, false)
		},
		"ipc with host ipc": func(c *runtime.PodSandboxConfig) {
			c.Linux.Sysctls = map[string]string{"kernel.shmmax": "1"}
			hostNS(c, false, true)
		},
		"no metadata": func(c *runtime.PodSandboxConfig) { c.Metadata = nil },
		"no uid":      func(c *runtime.PodSandboxConfig) { c.Metadata.Uid = "" },
	} {
		cfg := podConfig("bad-" + strings.ReplaceAll(name, " ", "-"))
		mut(cfg)
		_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: cfg})
		if code := codeOf(err); code != codes.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", name, err)
		}
	}
	_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: podConfig("handler"), RuntimeHandler: "nosuch"})
	wantCode(t, err, codes.InvalidArgument)
}

func hostNS(c *runtime.PodSandboxConfig, net, ipc bool) {
	nso := &runtime.NamespaceOption{}
	if net {
		nso.Network = runtime.NamespaceMode_NODE
	}
	if ipc {
		nso.Ipc = runtime.NamespaceMode_NODE
	}
	c.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{NamespaceOptions: nso}
}

func TestPodCgroupParentOOMScoreAndSharedShim(t *testing.T) {
	forEachHandler(t, testPodCgroupParentOOMScoreAndSharedShim)
}

func testPodCgroupParentOOMScoreAndSharedShim(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	pod := podConfig("cg")
	pod.Linux.CgroupParent = d.CgroupParent("pod-cg")
	podID := runPodOn(t, d, pod, handler)
	c1 := runContainer(t, d, podID, pod, ctrConfig("c1", img, "sleep", "3600"))
	c2 := runContainer(t, d, podID, pod, ctrConfig("c2", img, "sleep", "3600"))
	for _, id := range []string{podID, c1, c2} {
		if _, err := os.Stat(cgroup.Host().Dir("memory", filepath.Join(pod.Linux.CgroupParent, id))); err != nil {
			t.Errorf("cgroup of %s not under the pod's parent: %v", id, err)
		}
	}
	// The pause process asked for -998; cricketd (no CAP_SYS_RESOURCE
	// here) clamps to its own score.
	own, _ := os.ReadFile("/proc/" + strconv.Itoa(d.PID()) + "/oom_score_adj")
	pid := pausePID(t, d, podID)
	got, _ := os.ReadFile("/proc/" + pid + "/oom_score_adj")
	if strings.TrimSpace(string(got)) != strings.TrimSpace(string(own)) && strings.TrimSpace(string(got)) != "-998" {
		t.Errorf("pause oom_score_adj %q, want -998 or the daemon's own %q", got, own)
	}
	// One shim for the pod's pause and both containers.
	if shims := d.Resources(t).Shims; len(shims) != 1 {
		t.Errorf("pod runs %d shims, want 1: %v", len(shims), shims)
	}
	ps := execOut(t, d, c1, "ps")
	if !strings.Contains(ps, "sleep 3600") || strings.Count(ps, "sleep 3600") < 2 {
		t.Errorf("containers of a POD pid namespace do not see each other:\n%s", ps)
	}
}

func pausePID(t *testing.T, d *testrig.Daemon, podID string) string {
	t.Helper()
	resp, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	info := resp.Info["info"]
	i := strings.Index(info, `"pid":`)
	if i < 0 {
		t.Fatalf("no pid in %s", info)
	}
	rest := info[i+6:]
	return rest[:strings.IndexAny(rest, ",}")]
}

func TestRunPodSandboxRetryAfterTimeoutGetsTheSameSandbox(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Holds: true})
	pod := podConfig("retry")
	// kubelet's first call times out while cricketd creates the pod (held
	// at the start of the creation, which runs on with the name reserved).
	h := d.Hold(t, "RunPodSandbox")
	timeOutWhileHeld(t, d, h, "RunPodSandbox", func(ctx context.Context) error {
		_, err := d.Runtime.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{Config: pod})
		return err
	}, "pod=ns-retry/retry", "continues in the background; retry to receive it")
	// kubelet's retry comes while that creation is under way: it waits for
	// it, and receives its sandbox, instead of making a second one or
	// failing on the name.
	type result struct {
		id  string
		err error
	}
	retry := make(chan result, 1)
	go func() {
		resp, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: pod})
		retry <- result{resp.GetPodSandboxId(), err}
	}()
	select {
	case r := <-retry:
		t.Fatalf("the retry returned (%q, %v) while the first call's creation was held", r.id, r.err)
	case <-time.After(500 * time.Millisecond):
	}
	h.Release()
	r := <-retry
	if r.err != nil {
		t.Fatalf("retry: %v", r.err)
	}
	id := r.id
	pods := listPods(t, d, nil)
	if len(pods) != 1 || pods[0].Id != id {
		t.Fatalf("after the retry: %v, want exactly the sandbox %s", pods, id)
	}
	// A third call is a genuine duplicate.
	_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: pod})
	wantCode(t, err, codes.AlreadyExists)
	if got := d.Network.Allocations(t); len(got) != 1 {
		t.Fatalf("allocations %v, want one", got)
	}
}

// TestPodEth0Sysctl: a sysctl of the pod's eth0 exists only once the
// network is attached; it is set in both sandbox modes, with CNI.
func TestPodEth0Sysctl(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{config.SandboxModePause, config.SandboxModePinned} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Configure: func(c *config.Config) {
				c.SandboxMode = mode
			}})
			img := busybox(t, d)
			pod := kubeletPod("eth0sysctl")
			pod.Linux.Sysctls = map[string]string{"net.ipv4.conf.eth0.arp_announce": "2", "net.ipv4.ip_unprivileged_port_start": "100"}
			podID := runPod(t, d, pod)
			c := runContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))
			for path, want := range map[string]string{
				"/proc/sys/net/ipv4/conf/eth0/arp_announce":     "2",
				"/proc/sys/net/ipv4/ip_unprivileged_port_start": "100",
			} {
				if got := execOut(t, d, c, "cat", path); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
			stopPod(t, d, podID)
			removePod(t, d, podID)
		})
	}
}
