package integration

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/testrig"
)

func TestExecSync(t *testing.T) { forEachHandler(t, testExecSync) }

func testExecSync(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	podID, pod := podWithLogsOn(t, d, handler, "exec")
	c := runContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))

	out, errOut, code := execSync(t, d, c, "sh", "-c", "echo out; echo err >&2; exit 7")
	if out != "out\n" || errOut != "err\n" || code != 7 {
		t.Errorf("exec: stdout %q stderr %q exit %d", out, errOut, code)
	}
	// A background child that keeps stdout open does not hold the call.
	start := time.Now()
	out, _, code = execSync(t, d, c, "sh", "-c", "sleep 60 & echo done")
	if out != "done\n" || code != 0 || time.Since(start) > 10*time.Second {
		t.Errorf("exec with a background child: %q exit %d after %s", out, code, time.Since(start))
	}
	// Timeout: the call fails with DeadlineExceeded and the process is
	// gone when it returns.
	start = time.Now()
	_, err := d.Runtime.ExecSync(d.Ctx(), &runtime.ExecSyncRequest{ContainerId: c, Cmd: []string{"sleep", "4321"}, Timeout: 1})
	wantCode(t, err, codes.DeadlineExceeded)
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("timed-out exec returned after %s", el)
	}
	if got := execOut(t, d, c, "sh", "-c", "pgrep -f 'sleep 4321' || true"); got != "" {
		t.Errorf("timed-out process still running: %q", got)
	}
	// Output is capped just below 16 MiB, kubelet's message limit.
	resp, err := d.Runtime.ExecSync(d.Ctx(), &runtime.ExecSyncRequest{ContainerId: c, Cmd: []string{"head", "-c", "20000000", "/dev/zero"}, Timeout: 60})
	if err != nil || len(resp.Stdout) != 16<<20-4<<10 || resp.ExitCode != 0 {
		t.Errorf("large output: %v, %d bytes, exit %d", err, len(resp.GetStdout()), resp.GetExitCode())
	}
	_, err = d.Runtime.ExecSync(d.Ctx(), &runtime.ExecSyncRequest{ContainerId: "nosuch", Cmd: []string{"true"}})
	wantCode(t, err, codes.NotFound)
	stopped := runContainer(t, d, podID, pod, ctrConfig("done", img, "true"))
	waitState(t, d, stopped, runtime.ContainerState_CONTAINER_EXITED)
	_, err = d.Runtime.ExecSync(d.Ctx(), &runtime.ExecSyncRequest{ContainerId: stopped, Cmd: []string{"true"}})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestCRILogsSplitReopenAndSafety(t *testing.T) {
	forEachHandler(t, testCRILogsSplitReopenAndSafety)
}

func testCRILogsSplitReopenAndSafety(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{Configure: func(c *config.Config) {
		c.MaxContainerLogLineSize = 100
	}})
	img := busybox(t, d)
	podID, pod := podWithLogsOn(t, d, handler, "logs")

	cfg := ctrConfig("long", img, "sh", "-c", "printf 'x%.0s' $(seq 1 250); echo; echo short; echo oops >&2")
	cfg.LogPath = "long.log"
	id := runContainer(t, d, podID, pod, cfg)
	st := waitState(t, d, id, runtime.ContainerState_CONTAINER_EXITED)
	// Per stream (the two streams are copied independently, so their
	// records may interleave either way).
	shape := map[string][]string{}
	for _, r := range logRecords(t, st.LogPath) {
		tag := "F"
		if r.Partial {
			tag = "P"
		}
		shape[string(r.Stream)] = append(shape[string(r.Stream)], fmt.Sprintf("%s%d", tag, len(r.Content)))
	}
	// 250 x's with a limit of 100: P100 P100 F50; then "short".
	if got := strings.Join(shape["stdout"], " "); got != "P100 P100 F50 F5" {
		t.Errorf("stdout records %q", got)
	}
	if got := strings.Join(shape["stderr"], " "); got != "F4" {
		t.Errorf("stderr records %q", got)
	}
	lines := logLines(t, st.LogPath)
	if len(lines) != 3 || !slices.Contains(lines, "stdout: "+strings.Repeat("x", 250)) || !slices.Contains(lines, "stderr: oops") {
		t.Errorf("joined lines %q", lines)
	}

	// Reopen after rotation: no line lost, none duplicated.
	cfg = ctrConfig("counter", img, "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); sleep 0.01; done; sleep 3600")
	cfg.LogPath = "counter.log"
	id = runContainer(t, d, podID, pod, cfg)
	logPath := filepath.Join(pod.LogDirectory, "counter.log")
	waitFor(t, 20*time.Second, "some lines logged", func() bool { return len(logLines(t, logPath)) > 50 })
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.ReopenContainerLog(d.Ctx(), &runtime.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(logPath); err != nil {
		t.Fatalf("no new log file after ReopenContainerLog: %v", err)
	}
	waitFor(t, 30*time.Second, "all 300 lines", func() bool {
		return len(logLines(t, logPath+".1"))+len(logLines(t, logPath)) >= 300
	})
	all := append(logLines(t, logPath+".1"), logLines(t, logPath)...)
	for i, l := range all {
		if l != "stdout: line"+strconv.Itoa(i) {
			t.Fatalf("line %d across rotation is %q", i, l)
		}
	}
	if len(all) != 300 {
		t.Fatalf("%d lines across rotation, want 300", len(all))
	}

	// Log paths must stay inside the log directory.
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(pod.LogDirectory, "escape"))
	for name, p := range map[string]string{"dotdot": "../evil.log", "absolute": "/tmp/evil.log"} {
		cfg := ctrConfig("bad-"+name, img, "true")
		cfg.LogPath = p
		_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
		wantCode(t, err, codes.InvalidArgument)
	}
	cfg = ctrConfig("via-symlink", img, "echo", "hi")
	cfg.LogPath = "escape/x.log"
	sid := createContainer(t, d, podID, pod, cfg)
	_, err := d.Runtime.StartContainer(d.Ctx(), &runtime.StartContainerRequest{ContainerId: sid})
	if err == nil {
		t.Error("a log path through a symlink out of the log directory was accepted")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a file was created outside the log directory: %v", ents)
	}
}

func TestResourcesAndUpdate(t *testing.T) { forEachHandler(t, testResourcesAndUpdate) }

func testResourcesAndUpdate(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	pod := podConfig("res")
	pod.Linux.CgroupParent = d.CgroupParent("")
	podID := runPodOn(t, d, pod, handler)
	cfg := ctrConfig("limited", img, "sleep", "3600")
	cfg.Linux.Resources = &runtime.LinuxContainerResources{
		CpuPeriod: 100000, CpuQuota: 50000, CpuShares: 512,
		MemoryLimitInBytes: 64 << 20, CpusetCpus: "0", OomScoreAdj: 500,
	}
	id := runContainer(t, d, podID, pod, cfg)
	checkLimits(t, "created", filepath.Join(pod.Linux.CgroupParent, id), []cgroupLimit{
		{"cpu", "cpu.cfs_quota_us", "cpu.max", []string{"50000"}, []string{"50000 100000"}},
		{"cpu", "cpu.cfs_period_us", "cpu.max", []string{"100000"}, []string{"50000 100000"}},
		{"cpu", "cpu.shares", "cpu.weight", []string{"512"}, sharesAsWeight(512)},
		{"memory", "memory.limit_in_bytes", "memory.max", []string{strconv.Itoa(64 << 20)}, []string{strconv.Itoa(64 << 20)}},
		{"cpuset", "cpuset.cpus", "cpuset.cpus", []string{"0"}, []string{"0"}},
		// No swap: memory+swap at the memory limit on v1, a swap limit
		// of 0 on v2.
		{"memory", "memory.memsw.limit_in_bytes", "memory.swap.max", []string{strconv.Itoa(64 << 20)}, []string{"0"}},
	})
	if got := execOut(t, d, id, "cat", "/proc/self/oom_score_adj"); got != "500" {
		t.Errorf("oom_score_adj %q, want 500", got)
	}

	_, err := d.Runtime.UpdateContainerResources(d.Ctx(), &runtime.UpdateContainerResourcesRequest{ContainerId: id,
		Linux: &runtime.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 20000, MemoryLimitInBytes: 128 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	checkLimits(t, "updated", filepath.Join(pod.Linux.CgroupParent, id), []cgroupLimit{
		{"memory", "memory.limit_in_bytes", "memory.max", []string{strconv.Itoa(128 << 20)}, []string{strconv.Itoa(128 << 20)}},
		{"cpu", "cpu.cfs_quota_us", "cpu.max", []string{"20000"}, []string{"20000 100000"}},
	})
	if st := containerStatus(t, d, id); st.GetResources().GetLinux().GetMemoryLimitInBytes() != 128<<20 {
		t.Errorf("status resources %v", st.GetResources())
	}
	for name, r := range map[string]*runtime.LinuxContainerResources{
		"negative memory":  {MemoryLimitInBytes: -5},
		"tiny period":      {CpuPeriod: 10},
		"huge shares":      {CpuShares: 1 << 30},
		"oom out of range": {OomScoreAdj: 5000},
	} {
		_, err := d.Runtime.UpdateContainerResources(d.Ctx(), &runtime.UpdateContainerResourcesRequest{ContainerId: id, Linux: r})
		if codeOf(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

// cgroupLimit is a limit as a container's cgroup shows it: a v1
// controller's file (v1 and hybrid hosts, where runc sets limits through
// the v1 controllers) or the unified hierarchy's, and the values it may
// read there.
type cgroupLimit struct {
	controller     string
	v1File, v2File string
	v1Want, v2Want []string
}

// sharesAsWeight is what cgroup v2's cpu.weight may read for CPU shares:
// runc's older linear conversion (Debian's runc binary) or libcontainer's
// newer quadratic one (cricket's shim).
func sharesAsWeight(shares uint64) []string {
	return []string{strconv.FormatUint(1+(shares-2)*9999/262142, 10), strconv.FormatUint(cgroups.ConvertCPUSharesToCgroupV2Value(shares), 10)}
}

// checkLimits checks each limit of the cgroup at path in the host's
// hierarchy, one subtest each, named after stage and the file. A limit the host cannot hold (its
// controller missing, no swap accounting) skips its subtest and says why;
// any other file that cannot be read fails it.
func checkLimits(t *testing.T, stage, path string, limits []cgroupLimit) {
	t.Helper()
	h := cgroup.Host()
	for _, l := range limits {
		file, want := l.v1File, l.v1Want
		if h.Unified() {
			file, want = l.v2File, l.v2Want
		}
		t.Run(stage+" "+file, func(t *testing.T) {
			ok, err := h.HasController(l.controller)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Skipf("this host's cgroups (%s) cannot hold %s limits: the controller is not there", h, l.controller)
			}
			b, err := os.ReadFile(filepath.Join(h.Dir(l.controller, path), file))
			if swapFile := file == "memory.memsw.limit_in_bytes" || file == "memory.swap.max"; swapFile && errors.Is(err, fs.ErrNotExist) {
				t.Skipf("%s is missing: the kernel does no swap accounting", file)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(b)); !slices.Contains(want, got) {
				t.Errorf("%s = %s, want one of %q", file, got, want)
			}
		})
	}
}

func TestPIDNamespaceModesAndStats(t *testing.T) { forEachHandler(t, testPIDNamespaceModesAndStats) }

func testPIDNamespaceModesAndStats(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	pod := podConfig("pids")
	pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER}}
	podID := runPodOn(t, d, pod, handler)
	withPID := func(name string, mode runtime.NamespaceMode, target string) string {
		cfg := ctrConfig(name, img, "sleep", "3600")
		cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Pid: mode, TargetId: target}}
		return runContainer(t, d, podID, pod, cfg)
	}
	own := withPID("own", runtime.NamespaceMode_CONTAINER, "")
	if got := execOut(t, d, own, "cat", "/proc/1/cmdline"); !strings.HasPrefix(got, "sleep") {
		t.Errorf("CONTAINER pid mode: PID 1 is %q", got)
	}
	target := withPID("target", runtime.NamespaceMode_TARGET, own)
	if ps := execOut(t, d, target, "ps"); strings.Count(ps, "sleep 3600") != 2 {
		t.Errorf("TARGET pid mode does not see the target's processes:\n%s", ps)
	}
	// The host's PID namespace only in a pod that has it (a container of
	// any other pod is refused it: see TestBadInputIsRefusedBeforeAnything).
	hostPod := podConfig("hostpids")
	hostPod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_NODE}}
	hostCfg := ctrConfig("host", img, "sleep", "3600")
	hostCfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_NODE}}
	host := runContainer(t, d, runPodOn(t, d, hostPod, handler), hostPod, hostCfg)
	if got := execOut(t, d, host, "cat", "/proc/1/cmdline"); strings.HasPrefix(got, "sleep") {
		t.Errorf("NODE pid mode: PID 1 is %q", got)
	}

	// Stats move when the container works.
	burner := runContainer(t, d, podID, pod, ctrConfig("burner", img, "sh", "-c", "dd if=/dev/zero bs=1M count=40 | cat > /dev/shm/hold; while :; do :; done"))
	var first *runtime.ContainerStats
	waitFor(t, 30*time.Second, "memory usage to show", func() bool {
		resp, err := d.Runtime.ContainerStats(d.Ctx(), &runtime.ContainerStatsRequest{ContainerId: burner})
		if err != nil {
			t.Fatal(err)
		}
		first = resp.Stats
		return first.Memory.GetUsageBytes().GetValue() > 30<<20
	})
	if first.Cpu.Timestamp == 0 || first.Attributes.Id != burner || first.WritableLayer.GetFsId().GetMountpoint() == "" {
		t.Errorf("stats %v", first)
	}
	waitFor(t, 30*time.Second, "CPU usage to grow", func() bool {
		resp, _ := d.Runtime.ContainerStats(d.Ctx(), &runtime.ContainerStatsRequest{ContainerId: burner})
		return resp.GetStats().GetCpu().GetUsageCoreNanoSeconds().GetValue() > first.Cpu.UsageCoreNanoSeconds.GetValue()+100_000_000
	})
	list, err := d.Runtime.ListContainerStats(d.Ctx(), &runtime.ListContainerStatsRequest{Filter: &runtime.ContainerStatsFilter{PodSandboxId: podID}})
	if err != nil || len(list.Stats) != 3 {
		t.Errorf("ListContainerStats for the pod: %d entries, %v", len(list.GetStats()), err)
	}
}
