package integration

import (
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// busybox pushes and pulls the plain test image.
func busybox(t *testing.T, d *testrig.Daemon) string {
	t.Helper()
	return d.Image(t, "busybox:1", testrig.ImageSpec{})
}

func ctrConfig(name, image string, cmd ...string) *runtime.ContainerConfig {
	return &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: name, Attempt: 0},
		Image:    &runtime.ImageSpec{Image: image},
		Command:  cmd,
		Linux:    &runtime.LinuxContainerConfig{},
	}
}

func createContainer(t *testing.T, d *testrig.Daemon, podID string, pod *runtime.PodSandboxConfig, cfg *runtime.ContainerConfig) string {
	t.Helper()
	resp, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	if err != nil {
		t.Fatalf("CreateContainer(%s): %v", cfg.GetMetadata().GetName(), err)
	}
	return resp.ContainerId
}

func startContainer(t *testing.T, d *testrig.Daemon, id string) {
	t.Helper()
	if _, err := d.Runtime.StartContainer(d.Ctx(), &runtime.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("StartContainer(%s): %v", id, err)
	}
}

// runContainer creates and starts a container.
func runContainer(t *testing.T, d *testrig.Daemon, podID string, pod *runtime.PodSandboxConfig, cfg *runtime.ContainerConfig) string {
	t.Helper()
	id := createContainer(t, d, podID, pod, cfg)
	startContainer(t, d, id)
	return id
}

// stopAndRemoveContainer stops a container (the runtime's default grace
// period) and removes it, as kubelet's garbage collection does.
func stopAndRemoveContainer(t *testing.T, d *testrig.Daemon, id string) {
	t.Helper()
	if _, err := d.Runtime.StopContainer(d.Ctx(), &runtime.StopContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("StopContainer(%s): %v", id, err)
	}
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("RemoveContainer(%s): %v", id, err)
	}
}

func containerStatus(t *testing.T, d *testrig.Daemon, id string) *runtime.ContainerStatus {
	t.Helper()
	resp, err := d.Runtime.ContainerStatus(d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStatus(%s): %v", id, err)
	}
	return resp.Status
}

func waitState(t *testing.T, d *testrig.Daemon, id string, state runtime.ContainerState) *runtime.ContainerStatus {
	t.Helper()
	var st *runtime.ContainerStatus
	waitFor(t, 30*time.Second, "container "+id+" to be "+state.String(), func() bool {
		st = containerStatus(t, d, id)
		return st.State == state
	})
	return st
}

// execSync runs cmd in a container and returns its stdout, stderr and exit
// code, failing the test on an RPC error.
func execSync(t *testing.T, d *testrig.Daemon, id string, cmd ...string) (string, string, int32) {
	t.Helper()
	resp, err := d.Runtime.ExecSync(d.Ctx(), &runtime.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 30})
	if err != nil {
		t.Fatalf("ExecSync(%s, %q): %v", id, cmd, err)
	}
	return string(resp.Stdout), string(resp.Stderr), resp.ExitCode
}

// execOut runs cmd, requires exit 0 and returns trimmed stdout.
func execOut(t *testing.T, d *testrig.Daemon, id string, cmd ...string) string {
	t.Helper()
	out, errOut, code := execSync(t, d, id, cmd...)
	if code != 0 {
		t.Fatalf("ExecSync(%q) exited %d: stdout %q stderr %q", cmd, code, out, errOut)
	}
	return strings.TrimSpace(out)
}
