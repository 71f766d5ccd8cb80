package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

func condition(st *runtime.StatusResponse, typ string) *runtime.RuntimeCondition {
	for _, c := range st.GetStatus().GetConditions() {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

func TestVersionAndStatus(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Configure: func(c *config.Config) {
		c.Runtimes["kata"] = config.Runtime{Type: "io.containerd.kata.v2"}
		c.CgroupDriver = config.CgroupDriverSystemd
	}})
	v, err := d.Runtime.Version(d.Ctx(), &runtime.VersionRequest{})
	if err != nil || v.RuntimeName != "cricket" || v.RuntimeApiVersion != "v1" || v.RuntimeVersion == "" {
		t.Fatalf("Version = %v, %v", v, err)
	}
	st, err := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(st, runtime.RuntimeReady); c == nil || !c.Status {
		t.Errorf("RuntimeReady = %v", c)
	}
	// The test daemon's CNI conf dir starts empty.
	if c := condition(st, runtime.NetworkReady); c == nil || c.Status || c.Reason != "NetworkPluginNotReady" || c.Message == "" {
		t.Errorf("NetworkReady = %v, want false with reason and message", c)
	}
	var names []string
	for _, h := range st.RuntimeHandlers {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != ",cricket,kata,runc" {
		t.Errorf("runtime handlers = %q", names)
	}
	if !strings.Contains(st.Info["containerdVersion"], "1.") || !strings.Contains(st.Info["config"], d.Config.Containerd.Namespace) {
		t.Errorf("verbose info = %v", st.Info)
	}
	rc, err := d.Runtime.RuntimeConfig(d.Ctx(), &runtime.RuntimeConfigRequest{})
	if err != nil || rc.GetLinux().GetCgroupDriver() != runtime.CgroupDriver_SYSTEMD {
		t.Errorf("RuntimeConfig = %v, %v", rc, err)
	}
	_, err = d.Runtime.UpdateRuntimeConfig(d.Ctx(), &runtime.UpdateRuntimeConfigRequest{RuntimeConfig: &runtime.RuntimeConfig{
		NetworkConfig: &runtime.NetworkConfig{PodCidr: "10.88.0.0/16,fd00::/64"}}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ = d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{Verbose: true})
	if !strings.Contains(st.Info["podCIDR"], "10.88.0.0/16") {
		t.Errorf("pod CIDR not recorded: %v", st.Info["podCIDR"])
	}
	_, err = d.Runtime.UpdateRuntimeConfig(d.Ctx(), &runtime.UpdateRuntimeConfigRequest{RuntimeConfig: &runtime.RuntimeConfig{
		NetworkConfig: &runtime.NetworkConfig{PodCidr: "10.88.0.0/99"}}})
	wantCode(t, err, codes.InvalidArgument)
}

func TestNetworkReadyFollowsCNIConfDir(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	conf := `{"cniVersion":"1.0.0","name":"test","plugins":[{"type":"bridge","bridge":"ck0","ipam":{"type":"host-local","subnet":"10.250.0.0/24"}}]}`
	if err := os.WriteFile(filepath.Join(d.Config.CNI.ConfDir, "10-test.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "NetworkReady true after a conflist appears", func() bool {
		st, err := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{})
		return err == nil && condition(st, runtime.NetworkReady).GetStatus()
	})
	os.Remove(filepath.Join(d.Config.CNI.ConfDir, "10-test.conflist"))
	waitFor(t, 10*time.Second, "NetworkReady false after the conflist goes", func() bool {
		st, err := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{})
		return err == nil && !condition(st, runtime.NetworkReady).GetStatus()
	})
}

func TestRuntimeNotReadyWithoutContainerd(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{NoReadyWait: true, Configure: func(c *config.Config) {
		c.Containerd.Address = "/nonexistent/containerd.sock"
	}})
	st, err := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(st, runtime.RuntimeReady); c.GetStatus() || c.GetMessage() == "" {
		t.Fatalf("RuntimeReady = %v, want false with a message", c)
	}
	_, err = d.Images.ListImages(d.Ctx(), &runtime.ListImagesRequest{})
	wantCode(t, err, codes.Unavailable)
	_, err = d.Runtime.ListPodSandbox(d.Ctx(), &runtime.ListPodSandboxRequest{})
	wantCode(t, err, codes.Unavailable)
}

func TestUnimplementedRPCsSayUnimplemented(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	_, err := d.Runtime.CheckpointPod(d.Ctx(), &runtime.CheckpointPodRequest{})
	wantCode(t, err, codes.Unimplemented)
}

func TestSocketOwnershipAndShutdown(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	sock := d.Config.SocketPath()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want socket 0660", fi.Mode())
	}

	// A second daemon on the same socket fails clearly, naming the first,
	// and leaves it serving.
	secondDaemonFails(t, d.ConfigPath, fmt.Sprintf("CRI socket %s is in use by another cricketd, pid %d", sock, d.PID()))
	if _, err := d.Runtime.Version(d.Ctx(), &runtime.VersionRequest{}); err != nil {
		t.Fatalf("first daemon stopped answering: %v", err)
	}

	// SIGTERM: clean exit, socket gone.
	d.Stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still there after shutdown: %v", err)
	}
	if !d.Grep("cricketd stopped") {
		t.Error("no orderly shutdown in the log")
	}

	// A stale socket file left by a crash is replaced.
	d.Start()
	d.Kill()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("expected a stale socket after kill -9: %v", err)
	}
	d.Start()
	if _, err := d.Runtime.Version(d.Ctx(), &runtime.VersionRequest{}); err != nil {
		t.Fatalf("restarted daemon: %v", err)
	}
}

func TestMalformedConfigNamesTheLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte("sandbox_image = \"x\"\n\n[containerd]\nadress = \"/x\"\n"), 0o644)
	self, _ := os.Executable()
	cmd := exec.Command(self, "--config", path)
	cmd.Env = append(os.Environ(), "CRICKET_TESTRIG_DAEMON=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "line 4") || !strings.Contains(string(out), "adress") {
		t.Fatalf("err %v, output %q: want a failure naming line 4 and the key", err, out)
	}
}

// TestManagedContainerd runs cricketd with its own containerd child: images
// work through it, a killed child is restarted, and shutdown stops it.
func TestManagedContainerd(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	reg.Push(t, "busybox:m", testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "managed"}}))
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Managed: true})
	id := pull(t, d, reg.Host+"/busybox:m")
	if imageStatus(t, d, id) == nil {
		t.Fatal("image missing after pull")
	}
	pidFile := filepath.Join(d.Config.State, "containerd", "containerd.pid")
	pid := readPID(t, pidFile)
	cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if !strings.Contains(string(cmdline), "containerd") {
		t.Fatalf("pid %d is not containerd: %q", pid, cmdline)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, 30*time.Second, "a restarted managed containerd", func() bool {
		np, err := os.ReadFile(pidFile)
		if err != nil || strings.TrimSpace(string(np)) == strconv.Itoa(pid) {
			return false
		}
		st, err := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{})
		return err == nil && condition(st, runtime.RuntimeReady).GetStatus()
	})
	// Content survives the restart: same root.
	if imageStatus(t, d, id) == nil {
		t.Fatal("image lost across containerd restart")
	}
	newPID := readPID(t, pidFile)
	d.Stop()
	if syscall.Kill(newPID, 0) == nil {
		// Give the exit a moment to be reaped by its parent's exit.
		waitFor(t, 10*time.Second, "managed containerd gone after shutdown", func() bool {
			b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(newPID), "stat"))
			return len(b) == 0 || strings.Contains(string(b), ") Z ")
		})
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitFor waits until cond holds; at the deadline it fails the test, with
// what the optional last says about the last try.
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
		time.Sleep(25 * time.Millisecond)
	}
}

// secondDaemonFails runs a second cricketd with the config file at path
// and expects it to exit with an error that says want.
func secondDaemonFails(t *testing.T, path, want string) {
	t.Helper()
	self, _ := os.Executable()
	var out bytes.Buffer
	cmd := exec.Command(self, "--config", path)
	cmd.Env = append(os.Environ(), "CRICKET_TESTRIG_DAEMON=1")
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(out.String(), want) {
			t.Fatalf("second daemon: err %v, output %q, want %q", err, out.String(), want)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("second daemon did not exit; want it to fail with %q", want)
	}
}

// TestSecondDaemonOnSameRoot: a second cricketd on another socket but the
// same root (or state) directory refuses to start, naming the directory
// and the first daemon's pid, before it touches anything: the first
// daemon's managed containerd keeps serving.
func TestSecondDaemonOnSameRoot(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Managed: true})
	pidFile := filepath.Join(d.Config.State, "containerd", "containerd.pid")
	before, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(c *config.Config)
	}{
		{"root", fmt.Sprintf("root directory %s is in use by another cricketd, pid %d", d.Config.Root, d.PID()),
			func(c *config.Config) { c.State = filepath.Join(d.Dir, "state2") }},
		{"state", fmt.Sprintf("state directory %s is in use by another cricketd, pid %d", d.Config.State, d.PID()),
			func(c *config.Config) { c.Root = filepath.Join(d.Dir, "root2") }},
	} {
		c := *d.Config
		c.Listen = "unix://" + filepath.Join(d.Dir, tc.name+"-second.sock")
		tc.edit(&c)
		b, err := toml.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(d.Dir, tc.name+"-second.toml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		secondDaemonFails(t, path, tc.want)
	}
	// The same containerd serves (ImageService calls go through to it).
	if after, err := os.ReadFile(pidFile); err != nil || string(after) != string(before) {
		t.Errorf("first daemon's managed containerd: pid %q before, %q after (%v)", before, after, err)
	}
	if _, err := d.Images.ListImages(d.Ctx(), &runtime.ListImagesRequest{}); err != nil {
		t.Fatalf("first daemon's containerd stopped answering: %v", err)
	}
}
