package integration

import (
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// cricketHandler is the runtime handler of cricket's own shim, one of the
// default configuration's handlers.
const cricketHandler = config.CricketRuntimeHandler

// A pod on cricket's shim: a container runs, logs, execs, stops and goes.
func TestCricketShimBasics(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	img := busybox(t, d)
	before := d.Resources(t)
	pod := podConfig("shim")
	pod.LogDirectory = t.TempDir()
	podID := runPodOn(t, d, pod, cricketHandler)
	cfg := ctrConfig("main", img, "sh", "-c", "echo hello; trap 'echo bye; exit 0' TERM; while :; do sleep 1; done")
	cfg.LogPath = "main.log"
	c := runContainer(t, d, podID, pod, cfg)
	waitFor(t, 10*time.Second, "hello in the log", func() bool {
		return strings.Join(logLines(t, pod.LogDirectory+"/main.log"), ",") == "stdout: hello"
	})
	if got := execOut(t, d, c, "sh", "-c", "echo $((6*7))"); got != "42" {
		t.Errorf("exec: %q", got)
	}
	if _, _, code := execSync(t, d, c, "sh", "-c", "exit 5"); code != 5 {
		t.Errorf("exec exit code %d, want 5", code)
	}
	if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: c, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	st := containerStatus(t, d, c)
	if st.State != runtime.ContainerState_CONTAINER_EXITED || st.ExitCode != 0 {
		t.Errorf("after stop: %v", st)
	}
	if lines := logLines(t, pod.LogDirectory+"/main.log"); strings.Join(lines, ",") != "stdout: hello,stdout: bye" {
		t.Errorf("log %q", lines)
	}
	stopAndRemoveContainer(t, d, c)
	stopPod(t, d, podID)
	removePod(t, d, podID)
	if diff := before.Diff(d.Resources(t)); diff != "" {
		t.Errorf("left behind:\n%s", diff)
	}
}

// runPodOn runs a pod with a runtime handler.
func runPodOn(t *testing.T, d *testrig.Daemon, cfg *runtime.PodSandboxConfig, handler string) string {
	t.Helper()
	resp, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: cfg, RuntimeHandler: handler})
	if err != nil {
		t.Fatalf("RunPodSandbox(%s) on %s: %v", cfg.GetMetadata().GetName(), handler, err)
	}
	return resp.PodSandboxId
}
