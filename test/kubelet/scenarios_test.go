package kubelet

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A scenario is one static pod and what a node operator would check of
// it: once it runs, after cricketd and kubelet restarts, and after it is
// deleted.
type scenario struct {
	name string
	pod  func(e *env) *corev1.Pod
	// check runs once the pod is added, concurrently with the other
	// scenarios' checks.
	check func(t *testing.T, e *env)
	// steady marks a pod whose containers run until deleted: restarts of
	// cricketd and kubelet must leave them running, not restarted.
	steady bool
	// deleted runs after the pod was deleted and kubelet removed it.
	deleted func(t *testing.T, e *env)
}

const (
	startTimeout = 90 * time.Second
	// logLines is what the log-rotation pod writes.
	logLines = 3000
)

var scenarios = []scenario{
	{
		// Init containers run in order, each to completion, before the
		// app. With evented PLEG, their fast exits must reach kubelet
		// (they were lost, and init containers showed running for the
		// five minutes until a relist).
		name: "init-order",
		pod: func(e *env) *corev1.Pod {
			p := staticPod("init-order", e.image, "cat /data/order; sleep 3600")
			p.Spec.InitContainers = []corev1.Container{
				{Name: "first", Image: e.image, Command: []string{"sh", "-c", "echo first >> /data/order"}},
				{Name: "second", Image: e.image, Command: []string{"sh", "-c", "echo second >> /data/order"}},
			}
			emptyDir(p, "/data")
			return p
		},
		check: func(t *testing.T, e *env) {
			p := e.k.WaitPod(t, "init-order", 60*time.Second, "init containers done and app running", running)
			for _, n := range []string{"first", "second"} {
				if st := terminated(p, n); st == nil || st.ExitCode != 0 || st.Reason != "Completed" {
					t.Errorf("init container %s: %+v", n, containerStatus(p, n))
				}
			}
			e.waitLog(t, p, "main", "first,second")
		},
		steady: true,
	},
	{
		name: "exit-never",
		pod: func(e *env) *corev1.Pod {
			p := staticPod("exit-never", e.image, "echo bye; exit 3")
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			return p
		},
		check: func(t *testing.T, e *env) {
			p := e.k.WaitPod(t, "exit-never", startTimeout, "failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
			if st := terminated(p, "main"); st == nil || st.ExitCode != 3 || st.Reason != "Error" {
				t.Errorf("restartPolicy Never: %+v, want exit code 3", containerStatus(p, "main"))
			}
		},
	},
	{
		name: "exit-onfailure",
		pod: func(e *env) *corev1.Pod {
			p := staticPod("exit-onfailure", e.image, "if [ -f /data/once ]; then exit 0; fi; touch /data/once; exit 1")
			p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			emptyDir(p, "/data")
			return p
		},
		check: func(t *testing.T, e *env) {
			p := e.k.WaitPod(t, "exit-onfailure", startTimeout, "succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
			cs := containerStatus(p, "main")
			if st := cs.State.Terminated; st == nil || st.ExitCode != 0 || cs.RestartCount != 1 {
				t.Errorf("restartPolicy OnFailure: %+v, want exit 0 after one restart", cs)
			}
			if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 1 {
				t.Errorf("restartPolicy OnFailure: last termination %+v, want exit 1", cs.LastTerminationState)
			}
		},
	},
	{
		// Each attempt is healthy for 3 s: kubelet restarts it (with its
		// back-off) under the same name, and the new attempt is probed.
		// With evented PLEG, the old attempt listed first made kubelet
		// create a second container of the name (AlreadyExists).
		name: "liveness",
		pod: func(e *env) *corev1.Pod {
			p := staticPod("liveness", e.image, "touch /tmp/healthy; sleep 3; rm /tmp/healthy; sleep 3600")
			c := &p.Spec.Containers[0]
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
				PeriodSeconds: 1, FailureThreshold: 1}
			p.Spec.TerminationGracePeriodSeconds = ptr(int64(1))
			return p
		},
		check: func(t *testing.T, e *env) {
			e.k.WaitPod(t, "liveness", 2*time.Minute, "restarted twice by its liveness probe", func(p *corev1.Pod) bool {
				cs := containerStatus(p, "main")
				return cs != nil && cs.RestartCount >= 2 && cs.State.Running != nil
			})
			if e.d.Grep("code=AlreadyExists") {
				t.Errorf("kubelet created a container under a name in use:\n%s", grepLines(e.d.Log(), "AlreadyExists"))
			}
		},
	},
	{
		// Readiness over HTTP and TCP, and a host port on 127.0.0.1.
		name: "web",
		pod: func(e *env) *corev1.Pod {
			p := staticPod("web", e.image, "echo hello > /index.html; exec httpd -f -p 8080 -h /")
			c := &p.Spec.Containers[0]
			c.Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: int32(e.hostPort), HostIP: "127.0.0.1", Protocol: corev1.ProtocolTCP}}
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/index.html", Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 1}
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 2}
			return p
		},
		check: func(t *testing.T, e *env) {
			p := e.k.WaitPod(t, "web", startTimeout, "ready", podReady)
			if p.Status.PodIP == "" {
				t.Errorf("ready pod without an IP: %+v", p.Status)
			}
			e.waitHTTP(t, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(e.hostPort))+"/index.html", "hello")
			e.waitHTTP(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/index.html", "hello")
		},
		steady: true,
	},
	{
		name: "startup",
		pod: func(e *env) *corev1.Pod {
			p := staticPod("startup", e.image, "sleep 3; touch /tmp/started; sleep 3600")
			p.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/started"}}},
				PeriodSeconds: 1, FailureThreshold: 60}
			return p
		},
		check: func(t *testing.T, e *env) {
			p := e.k.WaitPod(t, "startup", startTimeout, "started and ready", func(p *corev1.Pod) bool {
				cs := containerStatus(p, "main")
				return cs != nil && cs.Started != nil && *cs.Started && cs.Ready
			})
			if cs := containerStatus(p, "main"); cs.RestartCount != 0 {
				t.Errorf("startup probe restarted the container: %+v", cs)
			}
		},
		steady: true,
	},
	{
		// postStart and preStop hooks, and stop signals: SIGRTMIN+3 (37)
		// from lifecycle.stopSignal and from the image's STOPSIGNAL.
		name: "hooks-signals",
		pod: func(e *env) *corev1.Pod {
			trap := func(who string) string {
				return "trap 'echo " + who + " got 37 > /hooks/" + who + "; exit 0' 37; trap 'echo " + who + " got TERM > /hooks/" + who + "; exit 0' TERM; while :; do sleep 1; done"
			}
			p := staticPod("hooks-signals", e.image, trap("lifecycle"))
			// kubelet takes lifecycle.stopSignal only with the pod's OS.
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{
				PostStart:  &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo poststart > /hooks/poststart"}}},
				PreStop:    &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo prestop > /hooks/prestop"}}},
				StopSignal: ptr(corev1.Signal("SIGRTMIN+3")),
			}
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "image", Image: e.rtImage, Command: []string{"sh", "-c", trap("image")}})
			p.Spec.TerminationGracePeriodSeconds = ptr(int64(30))
			hostDir(p, e.hooks, "/hooks")
			return p
		},
		check: func(t *testing.T, e *env) {
			p := e.k.WaitPod(t, "hooks-signals", startTimeout, "running", running)
			waitFile(t, filepath.Join(e.hooks, "poststart"), "poststart")
			for _, c := range []string{"main", "image"} {
				if cs := containerStatus(p, c); cs.StopSignal == nil || *cs.StopSignal != "SIGRTMIN+3" {
					t.Errorf("container %s: stopSignal %v, want SIGRTMIN+3", c, cs.StopSignal)
				}
			}
		},
		steady: true,
		deleted: func(t *testing.T, e *env) {
			waitFile(t, filepath.Join(e.hooks, "prestop"), "prestop")
			waitFile(t, filepath.Join(e.hooks, "lifecycle"), "lifecycle got 37")
			waitFile(t, filepath.Join(e.hooks, "image"), "image got 37")
		},
	},
	{
		name: "oom",
		pod: func(e *env) *corev1.Pod {
			p := staticPod("oom", e.image, "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived")
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			memoryLimit(&p.Spec.Containers[0], "24Mi")
			return p
		},
		check: func(t *testing.T, e *env) {
			p := e.k.WaitPod(t, "oom", startTimeout, "failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
			if st := terminated(p, "main"); st == nil || st.Reason != "OOMKilled" || st.ExitCode != 137 {
				t.Errorf("over its memory limit: %+v, want OOMKilled with exit code 137", containerStatus(p, "main"))
			}
		},
	},
	{
		// Numbered lines through kubelet's log rotation (16 KiB files,
		// ReopenContainerLog each time) and, while they are written, a
		// kill -9 of cricketd and a kubelet restart (see restarts).
		name: "logs",
		pod: func(e *env) *corev1.Pod {
			script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "line $i ................................................"; `+
				`[ $((i %% 100)) = 0 ] && sleep 1; done; echo done; sleep 3600`, logLines)
			p := staticPod("logs", e.image, script)
			p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
			return p
		},
		check: func(t *testing.T, e *env) {
			e.k.WaitPod(t, "logs", startTimeout, "running", running)
		},
		steady: true,
	},
	{
		// hostUsers: false: the pod gets its own user namespace, and every
		// mount kubelet makes for it (/etc/hosts, the termination log, the
		// emptyDir) is idmapped, so the container's root owns and writes
		// them.
		name: "userns",
		pod: func(e *env) *corev1.Pod {
			p := staticPod("userns", e.image, "cat /proc/self/uid_map; stat -c %u /etc/hosts /data; touch /data/written && echo wrote; "+
				"echo bye > /dev/termination-log; sleep 3600")
			p.Spec.HostUsers = ptr(false)
			emptyDir(p, "/data")
			return p
		},
		check: func(t *testing.T, e *env) {
			p := e.k.WaitPod(t, "userns", startTimeout, "running", running)
			dir := e.logDir(p, "main")
			var lines []string
			waitFor(t, 20*time.Second, "the userns pod's log", func() bool {
				if _, err := os.Stat(filepath.Join(dir, "0.log")); err != nil {
					return false
				}
				lines, _ = containerLogLines(t, dir)
				return len(lines) >= 4
			}, func() string { return fmt.Sprintf("log %q", lines) })
			// uid_map: "0 <host base> 65536", never the host's own "0 0 ...".
			if f := strings.Fields(lines[0]); len(f) != 3 || f[0] != "0" || f[1] == "0" || f[2] != "65536" {
				t.Errorf("uid_map of a hostUsers: false pod: %q", lines[0])
			}
			if lines[1] != "0" || lines[2] != "0" || lines[3] != "wrote" {
				t.Errorf("kubelet's mounts in a hostUsers: false pod: %q, want owned by the container's root and writable", lines[1:4])
			}
			sbs := e.sandboxesOf(t, "userns")
			if len(sbs) != 1 {
				t.Fatalf("%d sandboxes for the userns pod", len(sbs))
			}
			resp, err := e.d.Runtime.PodSandboxStatus(e.d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: sbs[0].Id})
			if err != nil {
				t.Fatal(err)
			}
			if u := resp.Status.GetLinux().GetNamespaces().GetOptions().GetUsernsOptions(); u.GetMode() != runtime.NamespaceMode_POD {
				t.Errorf("userns pod's sandbox: user namespace %v", u)
			}
		},
		steady: true,
	},
}

// waitHTTP waits until url answers 200 with a body containing want.
func (e *env) waitHTTP(t *testing.T, url, want string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var last string
	waitFor(t, 30*time.Second, "GET "+url, func() bool {
		resp, err := c.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		defer resp.Body.Close()
		b := make([]byte, 256)
		n, _ := resp.Body.Read(b)
		last = fmt.Sprintf("%s %q", resp.Status, b[:n])
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b[:n]), want)
	})
	_ = last
}

// waitLog waits until a container's log (kubelet's file) holds want as its
// stdout lines joined by commas.
func (e *env) waitLog(t *testing.T, p *corev1.Pod, container, want string) {
	t.Helper()
	dir := e.logDir(p, container)
	var got string
	waitFor(t, 20*time.Second, "log of "+p.Name+"/"+container, func() bool {
		if _, err := os.Stat(filepath.Join(dir, "0.log")); err != nil {
			ents, _ := os.ReadDir(filepath.Dir(dir))
			got = fmt.Sprintf("no %s/0.log: %v", dir, ents)
			return false
		}
		lines, _ := containerLogLines(t, dir)
		got = strings.Join(lines, ",")
		return got == want
	}, func() string { return "log holds " + got })
}

// logDir is where kubelet keeps a container's log files.
func (e *env) logDir(p *corev1.Pod, container string) string {
	return filepath.Join(e.k.PodLogs, p.Namespace+"_"+p.Name+"_"+string(p.UID), container)
}

// sandboxesOf lists the CRI sandboxes of a static pod.
func (e *env) sandboxesOf(t *testing.T, name string) []*runtime.PodSandbox {
	t.Helper()
	resp, err := e.d.Runtime.ListPodSandbox(e.d.Ctx(), &runtime.ListPodSandboxRequest{Filter: &runtime.PodSandboxFilter{
		LabelSelector: map[string]string{"scenario": name}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Items
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	var got []byte
	waitFor(t, 45*time.Second, path+" to say "+want, func() bool {
		got, _ = os.ReadFile(path)
		return strings.TrimSpace(string(got)) == want
	})
}

// waitFor waits until cond holds; at the deadline it fails the test,
// with what the optional last says about the last try.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, last ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			var why []string
			for _, l := range last {
				why = append(why, l())
			}
			t.Fatalf("timed out after %s waiting for %s %s", timeout, what, strings.Join(why, "; "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
