package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

func TestPodStatsAndMetrics(t *testing.T) { forEachHandler(t, testPodStatsAndMetrics) }

func testPodStatsAndMetrics(t *testing.T, handler string) {
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := handlerDaemon(t, testrig.DaemonOptions{Configure: func(c *config.Config) {
		c.Metrics.Address = metricsAddr
		c.StatsCollectPeriod = config.Duration(time.Second)
	}})
	img := httpdImage(t, d, 80)
	pod := podConfig("stats")
	pod.Linux.CgroupParent = d.CgroupParent("pod-stats")
	podID := runPodOn(t, d, pod, handler)
	cfg := ctrConfig("web", img)
	cfg.Linux.Resources = &runtime.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 256, MemoryLimitInBytes: 128 << 20}
	web := runContainer(t, d, podID, pod, cfg)
	ip := podStatus(t, d, podID).GetNetwork().GetIp()

	before := podNetRx(t, d, podID)
	// Traffic into the pod: 30 requests for a 256 KiB file.
	execOut(t, d, web, "sh", "-c", "head -c 262144 /dev/zero > /www/big")
	for range 30 {
		httpGet(t, "http://"+net.JoinHostPort(ip, "80")+"/big")
	}
	waitFor(t, 10*time.Second, "pod network counters to move", func() bool { return podNetRx(t, d, podID) > before+30*1000 })

	resp, err := d.Runtime.PodSandboxStats(d.Ctx(), &runtime.PodSandboxStatsRequest{PodSandboxId: podID})
	if err != nil {
		t.Fatal(err)
	}
	st := resp.Stats
	if st.Attributes.Id != podID || st.Linux.Cpu.GetUsageCoreNanoSeconds().GetValue() == 0 || st.Linux.Memory.GetWorkingSetBytes().GetValue() == 0 ||
		st.Linux.Process.GetProcessCount().GetValue() == 0 || len(st.Linux.Containers) != 1 || st.Linux.Network.GetDefaultInterface().GetName() != "eth0" {
		t.Errorf("pod stats %v", st)
	}
	if tx := st.Linux.Network.GetDefaultInterface().GetTxBytes().GetValue(); tx < 30*256<<10 {
		t.Errorf("pod sent %d bytes for 30 x 256 KiB responses", tx)
	}
	list, err := d.Runtime.ListPodSandboxStats(d.Ctx(), &runtime.ListPodSandboxStatsRequest{Filter: &runtime.PodSandboxStatsFilter{LabelSelector: map[string]string{"app": "stats"}}})
	if err != nil || len(list.Stats) != 1 {
		t.Errorf("ListPodSandboxStats by label: %v %v", list, err)
	}

	// Metrics: every descriptor has help and keys, and every value of this
	// pod has as many label values as its descriptor has keys.
	desc, err := d.Runtime.ListMetricDescriptors(d.Ctx(), &runtime.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, dsc := range desc.Descriptors {
		if dsc.Help == "" || len(dsc.LabelKeys) < 5 {
			t.Errorf("descriptor %v", dsc)
		}
		keys[dsc.Name] = len(dsc.LabelKeys)
	}
	mresp, err := d.Runtime.ListPodSandboxMetrics(d.Ctx(), &runtime.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]*runtime.Metric{}
	for _, pm := range mresp.PodMetrics {
		if pm.PodSandboxId != podID {
			continue
		}
		all := pm.Metrics
		for _, cm := range pm.ContainerMetrics {
			all = append(all, cm.Metrics...)
		}
		for _, m := range all {
			if n, ok := keys[m.Name]; !ok || n != len(m.LabelValues) {
				t.Errorf("metric %s has %d label values; descriptor has %d keys (known: %v)", m.Name, len(m.LabelValues), n, ok)
			}
			if _, dup := seen[m.Name]; !dup {
				seen[m.Name] = m
			}
		}
	}
	for name := range keys {
		if seen[name] == nil && !strings.Contains(name, "blkio") && !strings.Contains(name, "fs_reads") && !strings.Contains(name, "fs_writes") &&
			(hostHasPSI() || !strings.Contains(name, "_pressure_")) {
			t.Errorf("no %s for the pod", name)
		}
	}
	if m := seen["container_spec_cpu_shares"]; m.GetValue().GetValue() != 256 {
		t.Errorf("spec cpu shares metric %v", m)
	}
	if m := seen["container_network_transmit_bytes_total"]; m.GetValue().GetValue() < 30*256<<10 || m.LabelValues[4] != "POD" {
		t.Errorf("pod network metric %v", m)
	}

	// Streamed lists give the same items.
	ss, err := d.Runtime.StreamPodSandboxes(d.Ctx(), &runtime.StreamPodSandboxesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		r, err := ss.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n += len(r.PodSandboxes)
	}
	if n != 1 {
		t.Errorf("StreamPodSandboxes gave %d sandboxes, want 1", n)
	}

	// The operation metrics endpoint.
	body := httpGet(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{`cricket_cri_requests_total{code="OK",rpc="RunPodSandbox"} 1`, `cricket_pods{state="ready"} 1`,
		`cricket_containers{state="running"} 1`, "cricket_image_pulls_total", "cricket_cri_request_duration_seconds_bucket"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics endpoint lacks %q", want)
		}
	}

	_, err = d.Runtime.CheckpointContainer(d.Ctx(), &runtime.CheckpointContainerRequest{ContainerId: web})
	if codeOf(err) != codes.Unimplemented || !(strings.Contains(err.Error(), "CRIU") || strings.Contains(err.Error(), "not supported")) {
		t.Errorf("CheckpointContainer: %v", err)
	}
}

func podNetRx(t *testing.T, d *testrig.Daemon, podID string) uint64 {
	t.Helper()
	resp, err := d.Runtime.PodSandboxStats(d.Ctx(), &runtime.PodSandboxStatsRequest{PodSandboxId: podID})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Stats.Linux.Network.GetDefaultInterface().GetTxBytes().GetValue()
}

func TestContainerEventsAcrossALife(t *testing.T) { forEachHandler(t, testContainerEventsAcrossALife) }

func testContainerEventsAcrossALife(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evs, err := d.Runtime.GetContainerEvents(ctx, &runtime.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pod := podConfig("events")
	podID := runPodOn(t, d, pod, handler)
	c := runContainer(t, d, podID, pod, ctrConfig("c", img, "sh", "-c", "sleep 0.5"))
	waitState(t, d, c, runtime.ContainerState_CONTAINER_EXITED)
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: c}); err != nil {
		t.Fatal(err)
	}
	stopPod(t, d, podID)
	removePod(t, d, podID)

	want := []string{
		"sandbox CREATED", "sandbox STARTED",
		"container CREATED", "container STARTED", "container STOPPED", "container DELETED",
		"sandbox STOPPED", "sandbox DELETED",
	}
	var got []string
	for len(got) < len(want) {
		e, err := evs.Recv()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		who := "container"
		if e.ContainerId == podID {
			who = "sandbox"
		} else if e.ContainerId != c {
			t.Fatalf("event for unknown object %s", e.ContainerId)
		}
		kind := strings.TrimSuffix(strings.TrimPrefix(e.ContainerEventType.String(), "CONTAINER_"), "_EVENT")
		got = append(got, who+" "+kind)
		if e.PodSandboxStatus.GetMetadata().GetUid() != "uid-events" || e.CreatedAt == 0 {
			t.Errorf("event %s lacks the pod's status or time: %v", got[len(got)-1], e)
		}
		if kind == "STOPPED" && who == "container" {
			if len(e.ContainersStatuses) != 1 || e.ContainersStatuses[0].State != runtime.ContainerState_CONTAINER_EXITED {
				t.Errorf("STOPPED event container statuses %v", e.ContainersStatuses)
			}
		}
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("events %v\nwant   %v", got, want)
	}
	// PodSandboxStatus carries container statuses and a timestamp for
	// evented PLEG.
	podID2 := runPodOn(t, d, podConfig("events2"), handler)
	runContainer(t, d, podID2, podConfig("events2"), ctrConfig("c2", img, "sleep", "3600"))
	resp, err := d.Runtime.PodSandboxStatus(d.Ctx(), &runtime.PodSandboxStatusRequest{PodSandboxId: podID2})
	if err != nil || len(resp.ContainersStatuses) != 1 || resp.Timestamp == 0 {
		t.Errorf("PodSandboxStatus for evented PLEG: %v %v", resp, err)
	}
}
