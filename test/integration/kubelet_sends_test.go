package integration

// What a real kubelet sends that critest does not: each test here is a
// defect a kubelet run found (see test/kubelet for the kubelet suite).

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// kubelet sends a limit of 0 for every huge page size of the node with
// every container. Where the hugetlb controller is not mounted for the
// container's cgroup (this host: v1 without hugetlb, which only the v2
// side has), runc cannot set them, and every container failed to start.
func TestHugepageLimitsKubeletSends(t *testing.T) { forEachHandler(t, testHugepageLimitsKubeletSends) }

func testHugepageLimitsKubeletSends(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	pod := podConfig("hugepages")
	pod.Linux.CgroupParent = d.CgroupParent("pod-hugepages")
	podID := runPodOn(t, d, pod, handler)
	cfg := ctrConfig("c", img, "sh", "-c", "exit 3")
	cfg.Linux.Resources = &runtime.LinuxContainerResources{
		CpuShares: 2, MemoryLimitInBytes: 64 << 20,
		HugepageLimits: []*runtime.HugepageLimit{{PageSize: "2MB", Limit: 0}, {PageSize: "1GB", Limit: 0}},
	}
	c := runContainer(t, d, podID, pod, cfg)
	// The container's own exit code, not 128 for a start that failed.
	if st := waitState(t, d, c, runtime.ContainerState_CONTAINER_EXITED); st.ExitCode != 3 || st.Reason != "Error" {
		t.Errorf("container with kubelet's hugepage limits: exit %d reason %q message %q", st.ExitCode, st.Reason, st.Message)
	}
	// Where the controller is there, the limit is applied (elsewhere
	// the check is skipped, saying so).
	limited := ctrConfig("limited", img, "sleep", "3600")
	limited.Linux.Resources = &runtime.LinuxContainerResources{HugepageLimits: []*runtime.HugepageLimit{{PageSize: "2MB", Limit: 0}}}
	id := runContainer(t, d, podID, pod, limited)
	checkLimits(t, "applied", filepath.Join(pod.Linux.CgroupParent, id), []cgroupLimit{
		{"hugetlb", "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max", []string{"0"}, []string{"0"}},
	})
}

// kubelet passes SIGNAL_SIGRTMINPLUS3 for lifecycle.stopSignal SIGRTMIN+3,
// and images name real-time signals as STOPSIGNAL (systemd images use
// SIGRTMIN+3). ContainerStatus reports the signal in effect.
func TestRealTimeAndImageStopSignals(t *testing.T) {
	forEachHandler(t, testRealTimeAndImageStopSignals)
}

func testRealTimeAndImageStopSignals(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	// busybox's trap takes real-time signals by number: SIGRTMIN+3 is 37.
	script := `trap 'echo got 37; exit 7' 37; trap 'echo got TERM; exit 15' TERM; echo ready; while :; do sleep 1; done`
	rtImage := d.Image(t, "rtmin:1", testrig.ImageSpec{Cmd: []string{"sh", "-c", script}, StopSignal: "SIGRTMIN+3"})
	rtShort := d.Image(t, "rtmin-short:1", testrig.ImageSpec{Cmd: []string{"sh", "-c", script}, StopSignal: "RTMIN+3"})
	bogus := d.Image(t, "bogus-signal:1", testrig.ImageSpec{Cmd: []string{"sh", "-c", script}, StopSignal: "SIGBOGUS"})
	plain := d.Image(t, "plain-signal:1", testrig.ImageSpec{Cmd: []string{"sh", "-c", script}})
	podID, pod := podWithLogsOn(t, d, handler, "rtsignals")
	for _, tc := range []struct {
		name, image string
		sig         runtime.Signal
		want        runtime.Signal
		exit        int32
	}{
		{"config", plain, runtime.Signal_SIGNAL_SIGRTMINPLUS3, runtime.Signal_SIGNAL_SIGRTMINPLUS3, 7},
		{"image", rtImage, runtime.Signal_SIGNAL_RUNTIME_DEFAULT, runtime.Signal_SIGNAL_SIGRTMINPLUS3, 7},
		{"image-short", rtShort, runtime.Signal_SIGNAL_RUNTIME_DEFAULT, runtime.Signal_SIGNAL_SIGRTMINPLUS3, 7},
		{"default", plain, runtime.Signal_SIGNAL_RUNTIME_DEFAULT, runtime.Signal_SIGNAL_SIGTERM, 15},
		// An image STOPSIGNAL that names no signal: SIGTERM, never a
		// container that cannot be stopped.
		{"image-bogus", bogus, runtime.Signal_SIGNAL_RUNTIME_DEFAULT, runtime.Signal_SIGNAL_SIGTERM, 15},
		// Ignored (SIGRTMAX-1 is 63): the stop ends in SIGKILL.
		{"config-rtmax-ignored", plain, runtime.Signal_SIGNAL_SIGRTMAXMINUS1, runtime.Signal_SIGNAL_SIGRTMAXMINUS1, 137},
	} {
		cfg := ctrConfig(tc.name, tc.image)
		if strings.HasSuffix(tc.name, "-ignored") {
			cfg.Command = []string{"sh", "-c", "trap '' 63; echo ready; while :; do sleep 1; done"}
		}
		cfg.StopSignal, cfg.LogPath = tc.sig, tc.name+".log"
		id := runContainer(t, d, podID, pod, cfg)
		if got := containerStatus(t, d, id).StopSignal; got != tc.want {
			t.Errorf("%s: ContainerStatus stop_signal %s, want %s", tc.name, got, tc.want)
		}
		logPath := filepath.Join(pod.LogDirectory, cfg.LogPath)
		waitFor(t, 10*time.Second, tc.name+" ready", func() bool { return len(logLines(t, logPath)) > 0 })
		if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: id, Timeout: 2}); err != nil {
			t.Fatalf("%s: StopContainer: %v", tc.name, err)
		}
		if st := containerStatus(t, d, id); st.State != runtime.ContainerState_CONTAINER_EXITED || st.ExitCode != tc.exit {
			t.Errorf("%s: after StopContainer: state %s exit %d, want exit %d", tc.name, st.State, st.ExitCode, tc.exit)
		}
	}
	cfg := ctrConfig("bad", plain)
	cfg.StopSignal = runtime.Signal(99)
	_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "stop_signal") {
		t.Errorf("stop_signal 99: %v, want InvalidArgument naming stop_signal", err)
	}
}

// kubelet's evented PLEG keeps the status PodSandboxStatus gave it until an
// event with a later timestamp comes, and drops older events: an event
// stamped with the exit time (earlier than a status read that still showed
// the container running) was lost, and fast init containers stayed
// "running" for minutes.
func TestEventsNeverOlderThanStatus(t *testing.T) { forEachHandler(t, testEventsNeverOlderThanStatus) }

func testEventsNeverOlderThanStatus(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	evs, err := d.Runtime.GetContainerEvents(ctx, &runtime.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pod := podConfig("evtime")
	podID := runPodOn(t, d, pod, handler)

	// Poll PodSandboxStatus as kubelet does, all the time, and remember
	// the newest timestamp at which each container still looked running.
	var mu sync.Mutex
	lastRunning := map[string]int64{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			resp, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID})
			if err != nil {
				continue
			}
			mu.Lock()
			for _, cs := range resp.ContainersStatuses {
				if cs.State == runtime.ContainerState_CONTAINER_RUNNING && resp.Timestamp > lastRunning[cs.Id] {
					lastRunning[cs.Id] = resp.Timestamp
				}
			}
			mu.Unlock()
		}
	})
	const n = 8
	for i := range n {
		// Init containers that finish within milliseconds.
		cfg := ctrConfig("init-"+strconv.Itoa(i), img, "true")
		runContainer(t, d, podID, pod, cfg)
	}
	stopped := 0
	for stopped < n {
		e, err := evs.Recv()
		if err != nil {
			t.Fatalf("after %d STOPPED events: %v", stopped, err)
		}
		if e.ContainerEventType != runtime.ContainerEventType_CONTAINER_STOPPED_EVENT {
			continue
		}
		stopped++
		mu.Lock()
		seen := lastRunning[e.ContainerId]
		mu.Unlock()
		if e.CreatedAt < seen {
			t.Errorf("STOPPED event of %s at %d is older than a PodSandboxStatus at %d that showed it running: kubelet drops it",
				e.ContainerId, e.CreatedAt, seen)
		}
	}
	close(done)
	wg.Wait()
}

// After a restart, kubelet's evented path takes the first status of a
// container name as its current attempt: newest first.
func TestPodStatusNewestAttemptFirst(t *testing.T) {
	forEachHandler(t, testPodStatusNewestAttemptFirst)
}

func testPodStatusNewestAttemptFirst(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evs, err := d.Runtime.GetContainerEvents(ctx, &runtime.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pod := podConfig("attempts")
	podID := runPodOn(t, d, pod, handler)
	var ids []string
	for attempt := range uint32(3) {
		cfg := ctrConfig("app", img, "sleep", "3600")
		cfg.Metadata.Attempt = attempt
		id := runContainer(t, d, podID, pod, cfg)
		if attempt < 2 {
			if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: id}); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	newestFirst := func(what string, st []*runtime.ContainerStatus) {
		t.Helper()
		var got []string
		for _, s := range st {
			got = append(got, s.Id)
		}
		want := []string{ids[2], ids[1], ids[0]}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: container statuses %v, want newest first %v", what, got, want)
		}
	}
	resp, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil {
		t.Fatal(err)
	}
	newestFirst("PodSandboxStatus", resp.ContainersStatuses)
	for {
		e, err := evs.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e.ContainerId == ids[2] && e.ContainerEventType == runtime.ContainerEventType_CONTAINER_STARTED_EVENT {
			newestFirst("STARTED event", e.ContainersStatuses)
			break
		}
	}
}

// kubelet sizes the pod cgroup itself (overhead included) before it sends
// UpdatePodSandboxResources without the overhead: the runtime keeps and
// reports the values but must not write kubelet's cgroup.
func TestUpdatePodSandboxResourcesLeavesPodCgroup(t *testing.T) {
	forEachHandler(t, testUpdatePodSandboxResourcesLeavesPodCgroup)
}

func testUpdatePodSandboxResourcesLeavesPodCgroup(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	pod := podConfig("resize")
	pod.Linux.CgroupParent = d.CgroupParent("pod-resize")
	podID := runPodOn(t, d, pod, handler)
	// kubelet's part: the pod cgroup with the overhead included.
	h := cgroup.Host()
	limitFile := filepath.Join(h.Dir("memory", pod.Linux.CgroupParent), "memory.limit_in_bytes")
	if h.Unified() {
		limitFile = filepath.Join(h.Dir("memory", pod.Linux.CgroupParent), "memory.max")
	}
	const kubeletLimit = 300 << 20
	if err := os.WriteFile(limitFile, []byte(strconv.Itoa(kubeletLimit)), 0o644); err != nil {
		t.Fatal(err)
	}
	overhead := &runtime.LinuxContainerResources{MemoryLimitInBytes: 44 << 20, CpuShares: 10}
	resources := &runtime.LinuxContainerResources{MemoryLimitInBytes: 256 << 20, CpuShares: 512}
	if _, err := d.Runtime.UpdatePodSandboxResources(d.Ctx(), &runtime.UpdatePodSandboxResourcesRequest{PodSandboxId: podID,
		Overhead: overhead, Resources: resources}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(limitFile); strings.TrimSpace(string(b)) != strconv.Itoa(kubeletLimit) {
		t.Errorf("pod memory limit %q after UpdatePodSandboxResources, kubelet set %d", b, kubeletLimit)
	}
	reported := func() (over, res int64) {
		t.Helper()
		resp, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Overhead  *runtime.LinuxContainerResources `json:"overhead"`
			Resources *runtime.LinuxContainerResources `json:"resources"`
		}
		if err := json.Unmarshal([]byte(resp.Info["info"]), &info); err != nil {
			t.Fatal(err)
		}
		return info.Overhead.GetMemoryLimitInBytes(), info.Resources.GetMemoryLimitInBytes()
	}
	if o, r := reported(); o != 44<<20 || r != 256<<20 {
		t.Errorf("verbose status reports overhead %d, resources %d", o, r)
	}
	// Kept across a restart.
	d.Kill()
	d.Start()
	if o, r := reported(); o != 44<<20 || r != 256<<20 {
		t.Errorf("after a restart, verbose status reports overhead %d, resources %d", o, r)
	}
	_, err := d.Runtime.UpdatePodSandboxResources(d.Ctx(), &runtime.UpdatePodSandboxResourcesRequest{PodSandboxId: podID,
		Resources: &runtime.LinuxContainerResources{CpuPeriod: 5}})
	if codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cpu_period") {
		t.Errorf("bad resources: %v, want InvalidArgument naming cpu_period", err)
	}
	_, err = d.Runtime.UpdatePodSandboxResources(d.Ctx(), &runtime.UpdatePodSandboxResourcesRequest{PodSandboxId: "nosuchpod", Resources: resources})
	if codeOf(err) != codes.NotFound {
		t.Errorf("unknown pod: %v, want NotFound", err)
	}
}
