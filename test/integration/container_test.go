package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/crilog"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// podWithLogs runs a pod whose log directory is a fresh temporary dir.
func podWithLogs(t *testing.T, d *testrig.Daemon, name string) (string, *runtime.PodSandboxConfig) {
	t.Helper()
	return podWithLogsOn(t, d, "", name)
}

// podWithLogsOn is podWithLogs with a runtime handler.
func podWithLogsOn(t *testing.T, d *testrig.Daemon, handler, name string) (string, *runtime.PodSandboxConfig) {
	t.Helper()
	pod := podConfig(name)
	pod.LogDirectory = t.TempDir()
	return runPodOn(t, d, pod, handler), pod
}

// logRecords reads a container's CRI log.
func logRecords(t *testing.T, path string) []crilog.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := crilog.ParseRecords(b)
	if err != nil {
		t.Fatalf("malformed CRI log %s: %v\n%s", path, err, b)
	}
	return recs
}

// logLines joins a log's records into lines per stream ("stdout: text").
func logLines(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	partial := map[crilog.Stream]string{}
	for _, r := range logRecords(t, path) {
		partial[r.Stream] += r.Content
		if !r.Partial {
			out = append(out, string(r.Stream)+": "+partial[r.Stream])
			partial[r.Stream] = ""
		}
	}
	return out
}

func TestContainerLifecycleStatusAndList(t *testing.T) {
	forEachHandler(t, testContainerLifecycleStatusAndList)
}

func testContainerLifecycleStatusAndList(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	imgStatus := imageStatus(t, d, img)
	podID, pod := podWithLogsOn(t, d, handler, "life")
	cfg := ctrConfig("main", img, "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 1; done")
	cfg.Labels = map[string]string{"app": "life", "tier": "web"}
	cfg.Annotations = map[string]string{"note": "kept"}
	cfg.LogPath = "main/0.log"
	id := createContainer(t, d, podID, pod, cfg)

	st := containerStatus(t, d, id)
	if st.State != runtime.ContainerState_CONTAINER_CREATED || st.CreatedAt == 0 || st.StartedAt != 0 {
		t.Fatalf("after create: %v", st)
	}
	if st.Labels["app"] != "life" || st.Annotations["note"] != "kept" || st.Metadata.Name != "main" {
		t.Errorf("labels/annotations/metadata not kept: %v", st)
	}
	if st.ImageId != imgStatus.Id || st.ImageRef == "" || st.Image.Image != img {
		t.Errorf("image fields: image %q image_ref %q image_id %q; want image %q id %q", st.Image.Image, st.ImageRef, st.ImageId, img, imgStatus.Id)
	}
	if st.LogPath != filepath.Join(pod.LogDirectory, "main/0.log") {
		t.Errorf("log path %q", st.LogPath)
	}
	// Creating a second container with the same name is refused.
	_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	wantCode(t, err, codes.AlreadyExists)

	startContainer(t, d, id)
	_, err = d.Runtime.StartContainer(d.Ctx(), &runtime.StartContainerRequest{ContainerId: id})
	wantCode(t, err, codes.FailedPrecondition)
	st = containerStatus(t, d, id)
	if st.State != runtime.ContainerState_CONTAINER_RUNNING || st.StartedAt < st.CreatedAt {
		t.Fatalf("after start: %v", st)
	}
	fi, err := os.Stat(st.LogPath)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("log file: %v, mode %v; want 0640", err, fi)
	}

	other := runContainer(t, d, podID, pod, ctrConfig("other", img, "sleep", "3600"))
	for name, tc := range map[string]struct {
		f    *runtime.ContainerFilter
		want []string
	}{
		"all":        {nil, []string{id, other}},
		"id":         {&runtime.ContainerFilter{Id: id}, []string{id}},
		"id prefix":  {&runtime.ContainerFilter{Id: id[:10]}, []string{id}},
		"sandbox":    {&runtime.ContainerFilter{PodSandboxId: podID}, []string{id, other}},
		"no sandbox": {&runtime.ContainerFilter{PodSandboxId: strings.Repeat("f", 64)}, nil},
		"label":      {&runtime.ContainerFilter{LabelSelector: map[string]string{"app": "life"}}, []string{id}},
		"state":      {&runtime.ContainerFilter{State: &runtime.ContainerStateValue{State: runtime.ContainerState_CONTAINER_EXITED}}, nil},
	} {
		resp, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{Filter: tc.f})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range resp.Containers {
			got = append(got, c.Id)
			if c.Id == id && (c.ImageId != imgStatus.Id || c.PodSandboxId != podID || c.Labels["tier"] != "web") {
				t.Errorf("list entry %v", c)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("filter %s: got %v, want %v", name, got, tc.want)
		}
	}

	// Stop sends SIGTERM first: the trap runs and the exit is clean.
	if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	st = containerStatus(t, d, id)
	if st.State != runtime.ContainerState_CONTAINER_EXITED || st.ExitCode != 0 || st.Reason != "Completed" || st.FinishedAt < st.StartedAt {
		t.Fatalf("after stop: %v", st)
	}
	lines := logLines(t, st.LogPath)
	if strings.Join(lines, "|") != "stdout: started|stdout: bye" {
		t.Errorf("log lines %q", lines)
	}
	if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Errorf("second remove: %v", err)
	}
	_, err = d.Runtime.ContainerStatus(d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: id})
	wantCode(t, err, codes.NotFound)
	if _, err := os.Stat(st.LogPath); err != nil {
		t.Errorf("the log file (kubelet's) went with the container: %v", err)
	}
	// Removing a running container kills it; the name is free again.
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: other}); err != nil {
		t.Fatal(err)
	}
	createContainer(t, d, podID, pod, cfg)
}

func TestProcessArgsEnvAndWorkingDir(t *testing.T) {
	forEachHandler(t, testProcessArgsEnvAndWorkingDir)
}

func testProcessArgsEnvAndWorkingDir(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := d.Image(t, "printer:1", testrig.ImageSpec{
		Entrypoint: []string{"/bin/sh", "-c", `echo "args=$0 $*"; echo "FOO=$FOO BAR=$BAR"; pwd`},
		Cmd:        []string{"img-cmd", "x"},
		Env:        []string{"FOO=image", "BAR=image"},
		WorkingDir: "/tmp",
	})
	podID, pod := podWithLogsOn(t, d, handler, "args")
	for _, tc := range []struct {
		name      string
		command   []string
		args      []string
		env       []*runtime.KeyValue
		dir       string
		wantLines []string
	}{
		{"image defaults", nil, nil, nil, "", []string{"stdout: args=img-cmd x", "stdout: FOO=image BAR=image", "stdout: /tmp"}},
		{"args replace cmd", nil, []string{"a1", "a2"}, nil, "", []string{"stdout: args=a1 a2", "stdout: FOO=image BAR=image", "stdout: /tmp"}},
		{"command replaces entrypoint", []string{"echo", "cmd"}, []string{"arg"}, nil, "", []string{"stdout: cmd arg"}},
		{"env and dir", nil, nil, []*runtime.KeyValue{{Key: "BAR", Value: []byte("req")}, {Key: "NEW", Value: []byte("1")}}, "/etc",
			[]string{"stdout: args=img-cmd x", "stdout: FOO=image BAR=req", "stdout: /etc"}},
	} {
		cfg := ctrConfig(strings.ReplaceAll(tc.name, " ", "-"), img, tc.command...)
		cfg.Args, cfg.Envs, cfg.WorkingDir = tc.args, tc.env, tc.dir
		cfg.LogPath = cfg.Metadata.Name + ".log"
		id := runContainer(t, d, podID, pod, cfg)
		st := waitState(t, d, id, runtime.ContainerState_CONTAINER_EXITED)
		if got := logLines(t, st.LogPath); strings.Join(got, "|") != strings.Join(tc.wantLines, "|") {
			t.Errorf("%s: output %q, want %q", tc.name, got, tc.wantLines)
		}
	}
}

func TestExitCodesReasonsAndOOM(t *testing.T) { forEachHandler(t, testExitCodesReasonsAndOOM) }

func testExitCodesReasonsAndOOM(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	podID, pod := podWithLogsOn(t, d, handler, "exits")
	ok := runContainer(t, d, podID, pod, ctrConfig("ok", img, "true"))
	bad := runContainer(t, d, podID, pod, ctrConfig("bad", img, "sh", "-c", "exit 3"))
	oomCfg := ctrConfig("oom", img, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=40M")
	oomCfg.Linux.Resources = &runtime.LinuxContainerResources{MemoryLimitInBytes: 15 << 20, MemorySwapLimitInBytes: 15 << 20}
	oom := runContainer(t, d, podID, pod, oomCfg)
	for id, want := range map[string]struct {
		code   int32
		reason string
	}{ok: {0, "Completed"}, bad: {3, "Error"}, oom: {137, "OOMKilled"}} {
		st := waitState(t, d, id, runtime.ContainerState_CONTAINER_EXITED)
		if st.ExitCode != want.code || st.Reason != want.reason {
			t.Errorf("%s: exit %d reason %q, want %d %q", st.Metadata.Name, st.ExitCode, st.Reason, want.code, want.reason)
		}
	}
	// A container whose command does not exist fails at start, and says so.
	missing := createContainer(t, d, podID, pod, ctrConfig("missing", img, "/no/such/binary"))
	_, err := d.Runtime.StartContainer(d.Ctx(), &runtime.StartContainerRequest{ContainerId: missing})
	if err == nil {
		t.Fatal("starting a container without its binary succeeded")
	}
	if st := containerStatus(t, d, missing); st.State != runtime.ContainerState_CONTAINER_EXITED || st.Reason != "StartError" || st.Message == "" {
		t.Errorf("after a failed start: %v", st)
	}
}

func TestStopSignals(t *testing.T) { forEachHandler(t, testStopSignals) }

func testStopSignals(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	script := `trap 'echo got USR1; exit 0' USR1; trap 'echo got INT; exit 0' INT; trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 1; done`
	img := d.Image(t, "usr1:1", testrig.ImageSpec{Cmd: []string{"sh", "-c", script}, StopSignal: "SIGUSR1"})
	podID, pod := podWithLogsOn(t, d, handler, "signals")
	for _, tc := range []struct {
		name string
		sig  runtime.Signal
		want string
	}{
		{"image", runtime.Signal_SIGNAL_RUNTIME_DEFAULT, "stdout: got USR1"},
		{"request", runtime.Signal_SIGNAL_SIGINT, "stdout: got INT"},
	} {
		cfg := ctrConfig(tc.name, img)
		cfg.StopSignal, cfg.LogPath = tc.sig, tc.name+".log"
		id := runContainer(t, d, podID, pod, cfg)
		logPath := filepath.Join(pod.LogDirectory, cfg.LogPath)
		waitFor(t, 10*time.Second, "container ready", func() bool { return len(logLines(t, logPath)) > 0 })
		if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: id, Timeout: 30}); err != nil {
			t.Fatal(err)
		}
		st := containerStatus(t, d, id)
		if lines := logLines(t, logPath); len(lines) != 2 || lines[1] != tc.want || st.ExitCode != 0 {
			t.Errorf("%s stop signal: log %q exit %d, want %q", tc.name, lines, st.ExitCode, tc.want)
		}
	}
	// A process ignoring its stop signal is killed after the timeout.
	// Stopped once its traps are set: a stop signal racing the shell's
	// start would kill it before it ignores anything.
	cfg := ctrConfig("stubborn", img, "sh", "-c", "trap '' TERM USR1; echo ready; while :; do sleep 1; done")
	cfg.LogPath = "stubborn.log"
	stubborn := runContainer(t, d, podID, pod, cfg)
	waitFor(t, 10*time.Second, "stubborn container ready", func() bool {
		return len(logLines(t, filepath.Join(pod.LogDirectory, cfg.LogPath))) > 0
	})
	// Processes start with no signal ignored, exec processes too: what a
	// runtime ignores must not leak into containers.
	if got := execOut(t, d, stubborn, "grep", "SigIgn", "/proc/self/status"); !strings.HasSuffix(got, "0000000000000000") {
		t.Errorf("an exec process starts with ignored signals: %q", got)
	}
	start := time.Now()
	if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: stubborn, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < time.Second || el > 15*time.Second {
		t.Errorf("stop with a 1s timeout took %s", el)
	}
	if st := containerStatus(t, d, stubborn); st.ExitCode != 137 {
		t.Errorf("killed container exit code %d, want 137", st.ExitCode)
	}
}
