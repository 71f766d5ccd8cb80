package kubelet

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// suiteConfig is one node set-up the scenarios run on.
type suiteConfig struct {
	sandboxMode string // config.SandboxModePause or Pinned
	builtinNet  bool   // cricket's bridge backend instead of CNI
	gates       map[string]bool
	// statsFromCRI: kubelet takes pod and container stats from the CRI
	// (PodAndContainerStatsFromCRI) instead of cAdvisor.
	statsFromCRI bool
}

// The kubelet suite, in three node set-ups. Each runs every scenario at
// once on one kubelet, then restarts cricketd (kill -9) and kubelet, then
// deletes every pod and checks that nothing is left.

// The defaults a cluster node has: pause containers, CNI, the generic
// PLEG, cAdvisor stats.
func TestKubeletPauseCNI(t *testing.T) {
	runSuite(t, suiteConfig{sandboxMode: config.SandboxModePause})
}

// cricket's fastest mode, with kubelet's evented PLEG and CRI stats (a
// pinned pod has no pause process through which cAdvisor could find its
// network namespace).
func TestKubeletPinnedBridgeEvented(t *testing.T) {
	runSuite(t, suiteConfig{sandboxMode: config.SandboxModePinned, builtinNet: true,
		gates: map[string]bool{"EventedPLEG": true, "PodAndContainerStatsFromCRI": true}, statsFromCRI: true})
}

// Evented PLEG with pause containers, and cAdvisor's stats on the built-in
// network backend.
func TestKubeletPauseBridgeEvented(t *testing.T) {
	runSuite(t, suiteConfig{sandboxMode: config.SandboxModePause, builtinNet: true, gates: map[string]bool{"EventedPLEG": true}})
}

// env is what scenarios use.
type env struct {
	cfg      suiteConfig
	d        *testrig.Daemon
	k        *testrig.Kubelet
	image    string // busybox
	rtImage  string // busybox with STOPSIGNAL SIGRTMIN+3
	hooks    string // host directory the hooks pod writes to
	hostPort int
}

func runSuite(t *testing.T, cfg suiteConfig) {
	pn := testrig.NewPodNetwork()
	pn.Builtin = cfg.builtinNet
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: pn, Configure: func(c *config.Config) {
		c.SandboxMode = cfg.sandboxMode
		c.StatsCollectPeriod = config.Duration(time.Second)
	}})
	e := &env{cfg: cfg, d: d, hooks: t.TempDir(), hostPort: freePort(t)}
	d.Registry.Push(t, "busybox:1", testrig.BuildImage(t, testrig.ImageSpec{}))
	d.Registry.Push(t, "busybox-rtmin:1", testrig.BuildImage(t, testrig.ImageSpec{StopSignal: "SIGRTMIN+3"}))
	e.image, e.rtImage = d.Registry.Host+"/busybox:1", d.Registry.Host+"/busybox-rtmin:1"
	// Pulled before the census, so that their layers are not new after.
	for _, img := range []string{e.image, e.rtImage} {
		if _, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: img}}); err != nil {
			t.Fatal(err)
		}
	}
	gates := map[string]bool{"ContainerStopSignals": true}
	for g, on := range cfg.gates {
		gates[g] = on
	}
	e.k = testrig.StartKubelet(t, d, testrig.KubeletOptions{FeatureGates: gates})
	qos := []string{e.k.CgroupRoot + "/kubepods", e.k.CgroupRoot + "/kubepods/burstable", e.k.CgroupRoot + "/kubepods/besteffort"}
	// kubelet makes its QoS cgroups soon after it answers: they are its
	// own, not something a pod left.
	waitFor(t, time.Minute, "kubelet's QoS cgroups", func() bool {
		for _, q := range qos[1:] {
			if _, err := os.Stat(cgroup.Host().Dir("memory", q)); err != nil {
				return false
			}
		}
		return true
	})
	before := withoutQoS(d.Resources(t, qos...))

	for _, s := range scenarios {
		e.k.AddPod(s.pod(e))
	}
	t.Run("start", func(t *testing.T) {
		for _, s := range scenarios {
			t.Run(s.name, func(t *testing.T) {
				t.Parallel()
				s.check(t, e)
			})
		}
	})
	t.Run("stats", e.checkStats)
	if cfg.gates["EventedPLEG"] {
		t.Run("evented-pleg", e.checkEventedPLEG)
	}
	t.Run("restarts", e.checkRestarts)
	t.Run("logs", e.checkLogs)
	t.Run("delete", func(t *testing.T) {
		for _, s := range scenarios {
			e.k.DeletePod(s.name)
		}
		// kubelet kills the pods at once and removes their sandboxes at
		// its next container garbage collection (every minute).
		waitFor(t, 3*time.Minute, "kubelet to remove every sandbox and container", func() bool {
			sbs, err := d.Runtime.ListPodSandbox(d.Ctx(), &runtime.ListPodSandboxRequest{})
			if err != nil || len(sbs.Items) > 0 {
				return false
			}
			cs, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{})
			return err == nil && len(cs.Containers) == 0
		})
		for _, s := range scenarios {
			if s.deleted != nil {
				t.Run(s.name, func(t *testing.T) { s.deleted(t, e) })
			}
		}
		var diff string
		waitFor(t, time.Minute, "nothing left behind", func() bool {
			diff = before.Diff(withoutQoS(d.Resources(t, qos...)))
			if strings.Contains(diff, "snapshot") {
				// A snapshot of a hostUsers: false pod's remapped image
				// is garbage once its last container goes; containerd
				// may wait for its next change to collect it.
				d.CollectGarbage(t)
			}
			return diff == ""
		}, func() string { return "; left after every pod was deleted:\n" + diff })
	})
	if d.Grep("DATA RACE") || d.Grep("panic") {
		t.Errorf("cricketd reported a data race or a panic:\n%s", grepLines(d.Log(), "DATA RACE"))
	}
}

// withoutQoS leaves kubelet's own QoS cgroups (kubepods/burstable and
// kubepods/besteffort) out of a census: kubelet makes them in some
// hierarchies only when a pod of the class first needs them (on this
// hybrid host, the v1 devices hierarchy), so they may appear after the
// baseline without anything having leaked.
func withoutQoS(r testrig.Resources) testrig.Resources {
	r.Cgroups = slices.DeleteFunc(slices.Clone(r.Cgroups), func(cg string) bool {
		return strings.HasSuffix(cg, "/kubepods/burstable") || strings.HasSuffix(cg, "/kubepods/besteffort")
	})
	return r
}

// checkStats reads kubelet's /stats/summary for the web pod: CPU, memory,
// network (traffic from its probes) and filesystem figures.
func (e *env) checkStats(t *testing.T) {
	type fsStats struct {
		UsedBytes *uint64 `json:"usedBytes"`
	}
	type cpuMem struct {
		CPU *struct {
			UsageCoreNanoSeconds *uint64 `json:"usageCoreNanoSeconds"`
		} `json:"cpu"`
		Memory *struct {
			WorkingSetBytes *uint64 `json:"workingSetBytes"`
		} `json:"memory"`
	}
	type podStats struct {
		PodRef struct {
			Name string `json:"name"`
		} `json:"podRef"`
		cpuMem
		Network *struct {
			RxBytes *uint64 `json:"rxBytes"`
			TxBytes *uint64 `json:"txBytes"`
		} `json:"network"`
		EphemeralStorage *fsStats `json:"ephemeral-storage"`
		Containers       []struct {
			Name string `json:"name"`
			cpuMem
			Rootfs *fsStats `json:"rootfs"`
			Logs   *fsStats `json:"logs"`
		} `json:"containers"`
	}
	var last string
	ok := func() bool {
		var sum struct {
			Pods []podStats `json:"pods"`
		}
		if err := e.k.Get("/stats/summary", &sum); err != nil {
			last = err.Error()
			return false
		}
		for _, p := range sum.Pods {
			if p.PodRef.Name != e.k.PodName("web") {
				continue
			}
			var missing []string
			need := func(what string, v *uint64) {
				if v == nil || *v == 0 {
					missing = append(missing, what)
				}
			}
			if p.CPU != nil && p.Memory != nil {
				need("pod cpu", p.CPU.UsageCoreNanoSeconds)
				need("pod memory", p.Memory.WorkingSetBytes)
			} else {
				missing = append(missing, "pod cpu/memory")
			}
			if p.Network == nil {
				missing = append(missing, "pod network")
			} else {
				need("pod network rx", p.Network.RxBytes)
				need("pod network tx", p.Network.TxBytes)
			}
			if p.EphemeralStorage == nil {
				missing = append(missing, "pod ephemeral-storage")
			}
			if len(p.Containers) != 1 {
				missing = append(missing, fmt.Sprintf("%d containers", len(p.Containers)))
			} else {
				c := p.Containers[0]
				if c.CPU == nil || c.Memory == nil || c.Rootfs == nil || c.Logs == nil || c.Rootfs.UsedBytes == nil || c.Logs.UsedBytes == nil {
					missing = append(missing, "container cpu/memory/rootfs/logs")
				}
			}
			last = strings.Join(missing, ", ")
			return len(missing) == 0
		}
		last = "no web pod in the summary"
		return false
	}
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("/stats/summary of the web pod lacks: %s", last)
		}
		time.Sleep(time.Second)
	}
}

// checkEventedPLEG checks that kubelet used cricket's event stream (and
// did not fall back to relisting after errors).
func (e *env) checkEventedPLEG(t *testing.T) {
	m := e.kubeletMetrics(t)
	if m["kubelet_evented_pleg_connection_success_count"] < 1 || m["kubelet_evented_pleg_connection_error_count"] != 0 {
		t.Errorf("evented PLEG connections: %v successful, %v failed",
			m["kubelet_evented_pleg_connection_success_count"], m["kubelet_evented_pleg_connection_error_count"])
	}
}

// kubeletMetrics reads the unlabelled samples of kubelet's /metrics.
func (e *env) kubeletMetrics(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := httpClient.Get("http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.k.ReadOnlyPort)) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = f
		}
	}
	return out
}

// steadyState is what must not change across restarts of cricketd and
// kubelet: each steady pod's container IDs and restart counts.
func (e *env) steadyState(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range scenarios {
		if !s.steady {
			continue
		}
		p, err := e.k.Pod(s.name)
		if err != nil || p == nil {
			out[s.name] = fmt.Sprintf("unreadable: %v", err)
			continue
		}
		var cs []string
		for _, c := range p.Status.ContainerStatuses {
			cs = append(cs, fmt.Sprintf("%s=%s running=%v restarts=%d", c.Name, c.ContainerID, c.State.Running != nil, c.RestartCount))
		}
		slices.Sort(cs)
		out[s.name] = strings.Join(cs, " ")
	}
	return out
}

// checkRestarts kills cricketd (-9) and restarts it, then restarts
// kubelet: running containers keep running, none is restarted or
// recreated, and kubelet keeps managing the pods.
func (e *env) checkRestarts(t *testing.T) {
	want := e.steadyState(t)
	lines := len(e.logLinesNow(t))
	e.d.Kill()
	e.d.Start()
	t.Logf("cricketd killed and restarted while the logs pod had written %d of %d lines", lines, logLines)
	e.k.Stop()
	e.k.Start()
	for _, s := range scenarios {
		if s.steady {
			e.k.WaitPod(t, s.name, startTimeout, "running after the restarts", running)
		}
	}
	// Nothing may change while kubelet resyncs after its restart (a
	// sync every 10 s here; PLEG relists every second).
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		got := e.steadyState(t)
		for name, w := range want {
			if got[name] != w {
				t.Fatalf("pod %s after cricketd and kubelet restarts:\n got %s\nwant %s", name, got[name], w)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The liveness pod is still probed and restarted.
	p, _ := e.k.Pod("liveness")
	n := int32(0)
	if cs := containerStatus(p, "main"); cs != nil {
		n = cs.RestartCount
	}
	e.k.WaitPod(t, "liveness", 2*time.Minute, "restarted again after the restarts", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "main")
		return cs != nil && cs.RestartCount > n
	})
}

// logLinesNow is what the logs pod's log holds so far.
func (e *env) logLinesNow(t *testing.T) []string {
	t.Helper()
	p, err := e.k.Pod("logs")
	if err != nil || p == nil {
		t.Fatalf("logs pod: %v", err)
	}
	dir := e.logDir(p, "main")
	if _, err := os.Stat(filepath.Join(dir, "0.log")); err != nil {
		return nil
	}
	lines, _ := containerLogLines(t, dir)
	return lines
}

// checkLogs waits for the logs pod to finish writing and checks that
// kubelet's rotated files hold every line once, in order. A kill -9 of
// cricketd may lose the one line it had read from the pipe and not yet
// written (see README, sandbox and container: state).
func (e *env) checkLogs(t *testing.T) {
	p := e.k.WaitPod(t, "logs", time.Minute, "running", running)
	dir := e.logDir(p, "main")
	var lines []string
	var files int
	waitFor(t, 3*time.Minute, "the logs pod to write its last line", func() bool {
		if _, err := os.Stat(filepath.Join(dir, "0.log")); err != nil {
			return false
		}
		lines, files = containerLogLines(t, dir)
		return len(lines) > 0 && lines[len(lines)-1] == "done"
	})
	if files < 3 {
		t.Errorf("%d log files: kubelet did not rotate the log", files)
	}
	next, missing := 1, 0
	for _, l := range lines[:len(lines)-1] {
		n, err := strconv.Atoi(strings.Fields(l + " x")[1])
		if !strings.HasPrefix(l, "line ") || err != nil {
			t.Fatalf("unexpected log line %q", l)
		}
		switch {
		case n < next:
			t.Fatalf("line %d again or out of order after line %d", n, next-1)
		case n > next:
			missing += n - next
		}
		next = n + 1
	}
	missing += logLines + 1 - next
	if missing > 1 {
		t.Errorf("%d of %d lines lost through log rotation and restarts", missing, logLines)
	}
	t.Logf("%d lines in %d files, %d lost at the kill -9", len(lines)-1, files, missing)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpClient reads kubelet's read-only API.
var httpClient = &http.Client{Timeout: 10 * time.Second}
