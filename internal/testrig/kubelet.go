package testrig

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/mounts"
)

// KubeletVersion is the kubelet the kubelet suite runs: the k8s.io/kubernetes
// module version test/kubelet/kubeletbin pins.
const KubeletVersion = "v1.36.3"

// KubeletOptions adjust a test kubelet.
type KubeletOptions struct {
	// FeatureGates are kubelet feature gates to set (EventedPLEG, ...).
	FeatureGates map[string]bool
	// MaxRestartPeriod caps kubelet's crash-loop back-off (default 5s, so
	// that restarts are quick but still backed off).
	MaxRestartPeriod time.Duration
}

// Kubelet is a real kubelet process in standalone mode (no API server):
// static pods from a manifest directory, the cgroupfs driver, pointed at a
// test cricketd. Tests read pod status through its read-only port.
type Kubelet struct {
	NodeName  string
	Dir       string // root dir
	Manifests string // static pod manifests
	PodLogs   string // podLogsDirectory
	// CgroupRoot is the cgroup kubelet puts its kubepods tree under.
	CgroupRoot   string
	ReadOnlyPort int

	tb      testing.TB
	args    []string
	config  string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	http    *http.Client
}

var kubeletBuild struct {
	once sync.Once
	path string
	err  error
}

// KubeletBinary builds (once per test binary; the Go build cache keeps it
// for later runs) the kubelet of test/kubelet/kubeletbin into bin/ of the
// repository and returns its path. The first build on a machine takes
// minutes: it compiles kubelet from source.
func KubeletBinary(tb testing.TB) string {
	tb.Helper()
	kubeletBuild.once.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		repo := filepath.Join(filepath.Dir(here), "..", "..")
		out := filepath.Join(repo, "bin", "kubelet")
		cmd := exec.Command("go", "build", "-o", out, ".")
		cmd.Dir = filepath.Join(repo, "test", "kubelet", "kubeletbin")
		// The kubelet module has its own go.mod; GOFLAGS of the caller
		// (say -mod=vendor) are not for it.
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOWORK=off")
		start := time.Now()
		b, err := cmd.CombinedOutput()
		if err != nil {
			kubeletBuild.err = fmt.Errorf("build kubelet %s: %v\n%s", KubeletVersion, err, b)
			return
		}
		kubeletBuild.path = out
		if el := time.Since(start); el > 30*time.Second {
			fmt.Fprintf(os.Stderr, "built kubelet %s in %s\n", KubeletVersion, el.Round(time.Second))
		}
	})
	if kubeletBuild.err != nil {
		tb.Fatal(kubeletBuild.err)
	}
	return kubeletBuild.path
}

// StartKubelet runs a kubelet against d. It is stopped when the test ends;
// pods it leaves are the daemon's to clean up.
func StartKubelet(tb testing.TB, d *Daemon, opts KubeletOptions) *Kubelet {
	tb.Helper()
	KubeletBinary(tb) // build first: a failed build is not a failed kubelet start
	// Short: kubelet puts unix sockets below its root dir.
	dir, err := os.MkdirTemp("", "ckl-")
	if err != nil {
		tb.Fatal(err)
	}
	k := &Kubelet{
		NodeName:   "ck-node-" + strings.TrimPrefix(d.Config.Containerd.Namespace, "ck-"),
		Dir:        dir,
		Manifests:  filepath.Join(dir, "manifests"),
		PodLogs:    filepath.Join(dir, "pod-logs"),
		CgroupRoot: d.CgroupParent("kubelet"),
		tb:         tb,
		logPath:    filepath.Join(dir, "kubelet.log"),
		http:       &http.Client{Timeout: 10 * time.Second},
	}
	for _, p := range []string{k.Manifests, k.PodLogs} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	// kubelet wants its cgroup root to exist in every hierarchy.
	dirs, err := cgroup.Host().Dirs(k.CgroupRoot)
	if err != nil {
		tb.Fatal(err)
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	ports := freePorts(tb, 3)
	k.ReadOnlyPort = ports[0]
	maxRestart := opts.MaxRestartPeriod
	if maxRestart == 0 {
		maxRestart = 5 * time.Second
	}
	cfg := map[string]any{
		"apiVersion":                  "kubelet.config.k8s.io/v1beta1",
		"kind":                        "KubeletConfiguration",
		"staticPodPath":               k.Manifests,
		"fileCheckFrequency":          "1s",
		"syncFrequency":               "10s",
		"address":                     "127.0.0.1",
		"port":                        ports[1],
		"readOnlyPort":                ports[0],
		"healthzBindAddress":          "127.0.0.1",
		"healthzPort":                 ports[2],
		"authentication":              map[string]any{"anonymous": map[string]any{"enabled": true}, "webhook": map[string]any{"enabled": false}},
		"authorization":               map[string]any{"mode": "AlwaysAllow"},
		"containerRuntimeEndpoint":    d.Config.Listen,
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  k.CgroupRoot,
		"cgroupsPerQOS":               true,
		"failCgroupV1":                false,
		"failSwapOn":                  false,
		"oomScoreAdj":                 0,
		"podLogsDir":                  k.PodLogs,
		"volumePluginDir":             filepath.Join(dir, "volume-plugins"),
		"containerLogMaxSize":         "16Ki",
		"containerLogMaxFiles":        30,
		"containerLogMonitorInterval": "3s",
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"evictionHard":                map[string]string{"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
		"serializeImagePulls":         false,
		"crashLoopBackOff":            map[string]any{"maxContainerRestartPeriod": maxRestart.String()},
		"featureGates":                opts.FeatureGates,
		"registerNode":                false,
		"shutdownGracePeriod":         "0s",
		"resolvConf":                  "",
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	k.config = filepath.Join(dir, "config.json")
	k.args = []string{"--config", k.config, "--root-dir", k.Dir, "--hostname-override", k.NodeName,
		"--cert-dir", filepath.Join(dir, "pki"), "--v", "2",
		// cAdvisor, behind kubelet's default stats path, reads
		// containers' labels and a pod's network figures from
		// containerd (by default /run/containerd/containerd.sock,
		// namespace k8s.io): these are the test daemon's.
		"--containerd", strings.TrimPrefix(d.Config.Containerd.Address, "unix://"),
		"--containerd-namespace", d.Config.Containerd.Namespace}
	if err := os.WriteFile(k.config, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	kubeletStarting()
	tb.Cleanup(func() {
		k.Stop()
		kubeletStopped()
		if tb.Failed() {
			tb.Logf("kubelet log (last 200 lines):\n%s", k.LogTail(200))
		}
		// kubelet bind-mounts its root dir onto itself (each start once
		// more), and pod volumes below it.
		mounts.UnmountUnder(dir)
		for unix.Unmount(dir, unix.MNT_DETACH) == nil {
		}
		os.RemoveAll(dir)
	})
	k.Start()
	return k
}

// Start starts the kubelet process (again) and waits until its read-only
// port answers.
func (k *Kubelet) Start() {
	k.tb.Helper()
	logf, err := os.OpenFile(k.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		k.tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(KubeletBinary(k.tb), k.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		k.tb.Fatal(err)
	}
	k.cmd, k.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(k.exited)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := k.http.Get(k.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-k.exited:
			k.tb.Fatalf("kubelet exited during start-up: %s\n%s", k.cmd.ProcessState, k.LogTail(100))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			k.tb.Fatalf("kubelet's read-only port did not answer within 90s: %v\n%s", err, k.LogTail(100))
		}
	}
}

// Stop stops the kubelet (SIGTERM, then SIGKILL); its pods keep running,
// as on a node whose kubelet restarts.
func (k *Kubelet) Stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	select {
	case <-k.exited:
		return
	default:
	}
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(20 * time.Second):
		k.cmd.Process.Kill()
		<-k.exited
	}
}

func (k *Kubelet) url(path string) string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(k.ReadOnlyPort)) + path
}

// Get reads a path of the read-only API into v.
func (k *Kubelet) Get(path string, v any) error {
	resp, err := k.http.Get(k.url(path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}

// PodName is the name kubelet gives a static pod of the given name.
func (k *Kubelet) PodName(name string) string { return name + "-" + k.NodeName }

// Pod returns the static pod of the given manifest name, with the status
// kubelet keeps for it; nil if kubelet does not have it.
func (k *Kubelet) Pod(name string) (*corev1.Pod, error) {
	var list corev1.PodList
	if err := k.Get("/pods", &list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if list.Items[i].Name == k.PodName(name) {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// AddPod writes a static pod manifest (atomically: kubelet must not read
// half a file).
func (k *Kubelet) AddPod(pod *corev1.Pod) {
	k.tb.Helper()
	pod.APIVersion, pod.Kind = "v1", "Pod"
	b, err := json.MarshalIndent(pod, "", "  ")
	if err != nil {
		k.tb.Fatal(err)
	}
	tmp := filepath.Join(k.Dir, pod.Name+".json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		k.tb.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.Manifests, pod.Name+".json")); err != nil {
		k.tb.Fatal(err)
	}
}

// DeletePod removes a static pod's manifest; kubelet then kills the pod.
func (k *Kubelet) DeletePod(name string) {
	k.tb.Helper()
	if err := os.Remove(filepath.Join(k.Manifests, name+".json")); err != nil {
		k.tb.Fatal(err)
	}
}

// WaitPod waits until cond holds for the static pod and returns it; it
// fails the test at the deadline with the pod's last status.
func (k *Kubelet) WaitPod(tb testing.TB, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var last *corev1.Pod
	var lastErr error
	for time.Now().Before(deadline) {
		p, err := k.Pod(name)
		if err == nil && p != nil {
			last = p
			if cond(p) {
				return p
			}
		}
		lastErr = err
		time.Sleep(250 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(last, "", "  ")
	tb.Fatalf("pod %s: %s: not within %s (last error %v); last seen:\n%s", name, what, timeout, lastErr, b)
	return nil
}

// LogTail returns the last n lines of the kubelet's log.
func (k *Kubelet) LogTail(n int) string {
	b, _ := os.ReadFile(k.logPath)
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Log returns the kubelet's whole log.
func (k *Kubelet) Log() string {
	b, _ := os.ReadFile(k.logPath)
	return string(b)
}

// Ctx is a context for one call a test makes on behalf of kubelet.
func (k *Kubelet) Ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	k.tb.Cleanup(cancel)
	return ctx
}

// freePorts returns n TCP ports free on 127.0.0.1 right now.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}
