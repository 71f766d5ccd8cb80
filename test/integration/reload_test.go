package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// runningConfig is the configuration cricketd reports in Status' verbose
// info: the one it runs with.
func runningConfig(t *testing.T, d *testrig.Daemon) (*config.Config, []string) {
	t.Helper()
	st, err := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var cfg config.Config
	if err := json.Unmarshal([]byte(st.Info["config"]), &cfg); err != nil {
		t.Fatalf("Status info[config] %q: %v", st.Info["config"], err)
	}
	var handlers []string
	for _, h := range st.RuntimeHandlers {
		handlers = append(handlers, h.Name)
	}
	return &cfg, handlers
}

// waitLogLine waits until the daemon's log holds n lines containing s and
// returns the n-th.
func waitLogLine(t *testing.T, d *testrig.Daemon, s string, n int) string {
	t.Helper()
	var lines []string
	waitFor(t, 30*time.Second, "log line "+s, func() bool {
		lines = lines[:0]
		for _, l := range strings.Split(d.Log(), "\n") {
			if strings.Contains(l, s) {
				lines = append(lines, l)
			}
		}
		return len(lines) >= n
	}, func() string { return d.Log() })
	return lines[n-1]
}

// labelled is img with a label, so that it is another image (ID).
func labelled(t *testing.T, img v1.Image, value string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	c.Labels = map[string]string{"io.cricket.test": value}
	out, err := mutate.Config(img, c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// debugLogged reports whether a Version call is logged at debug level,
// as every CRI call is at that level.
func debugLogged(t *testing.T, d *testrig.Daemon) bool {
	t.Helper()
	mark := len(d.Log())
	if _, err := d.Runtime.Version(d.Ctx(), &runtime.VersionRequest{}); err != nil {
		t.Fatal(err)
	}
	// The call's line is written before its reply is sent.
	return strings.Contains(d.Log()[mark:], `level=DEBUG msg="CRI call" rpc=Version`)
}

// TestConfigReloadOnSIGHUP changes the log level, the sandbox image, the
// registry hosts directory and the runtime handlers of a running
// cricketd, sends it SIGHUP and observes each through the CRI.
func TestConfigReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	d := handlerDaemon(t, testrig.DaemonOptions{
		Configure: func(c *config.Config) { c.Runtimes["doomed"] = config.Runtime{Type: config.RuncRuntimeType} },
		// Until the reload, mirror.invalid has no mirror: its pulls fail.
		Hosts: map[string]string{"mirror.invalid": `server = "http://127.0.0.1:1"` + "\n"},
	})
	img := busybox(t, d)
	// A pod on the handler that the reload removes.
	doomed := podConfig("doomed")
	doomed.LogDirectory = t.TempDir()
	doomedID := runPodOn(t, d, doomed, "doomed")

	d.Registry.Push(t, "mirrored:1", testrig.BuildImage(t, testrig.ImageSpec{Labels: map[string]string{"t": "reload"}}))
	if _, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: "mirror.invalid/mirrored:1"}}); err == nil {
		t.Fatal("pull through a hosts directory without the mirror succeeded")
	}
	hosts := filepath.Join(d.Dir, "certs-reloaded")
	if err := os.MkdirAll(filepath.Join(hosts, "mirror.invalid"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hosts, "mirror.invalid", "hosts.toml"), []byte(mirrorHosts(d.Registry)), 0o644); err != nil {
		t.Fatal(err)
	}
	newPause := d.Registry.Host + "/pause:reloaded"
	d.Registry.Push(t, "pause:reloaded", labelled(t, testrig.PauseImage(t), "reloaded"))
	if !debugLogged(t, d) {
		t.Fatal("CRI calls are not logged at debug level before the reload")
	}

	d.WriteConfig(t, d.ConfigWith(t, func(c *config.Config) {
		c.LogLevel = "info"
		c.SandboxImage = newPause
		c.Registry.ConfigPath = hosts
		c.Runtimes["added"] = config.Runtime{Type: config.RuncRuntimeType}
		delete(c.Runtimes, "doomed")
	}))
	d.Reload(t)
	line := waitLogLine(t, d, `msg="config reloaded"`, 1)
	for _, want := range []string{
		"log_level: debug → info",
		"sandbox_image: " + d.PauseImage + " → " + newPause,
		"registry.config_path: " + d.Config.Registry.ConfigPath + " → " + hosts,
		"runtimes.added: (none) → {type=io.containerd.runc.v2}",
		"runtimes.doomed: {type=io.containerd.runc.v2} → (none)",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("reload line lacks %q: %s", want, line)
		}
	}
	cfg, handlers := runningConfig(t, d)
	if cfg.LogLevel != "info" || cfg.SandboxImage != newPause || cfg.Registry.ConfigPath != hosts {
		t.Errorf("Status reports log_level %s, sandbox_image %s, registry.config_path %s", cfg.LogLevel, cfg.SandboxImage, cfg.Registry.ConfigPath)
	}
	if got := strings.Join(handlers, ","); got != ",added,cricket,runc" {
		t.Errorf("Status runtime handlers %q, want the added one and not the removed one", got)
	}
	if debugLogged(t, d) {
		t.Error("CRI calls still logged at debug level after a reload to info")
	}

	// New pulls use the new hosts directory.
	pull(t, d, "mirror.invalid/mirrored:1")

	// A new pod runs on the added handler with the new sandbox image,
	// which is now the pinned one.
	added := podConfig("added")
	added.LogDirectory = t.TempDir()
	addedID := runPodOn(t, d, added, "added")
	if st := imageStatus(t, d, newPause); st == nil || !st.Pinned {
		t.Errorf("new sandbox image after a pod start: %v, want present and pinned", st)
	}
	if st := imageStatus(t, d, d.PauseImage); st == nil || st.Pinned {
		t.Errorf("old sandbox image: %v, want present and no longer pinned", st)
	}

	// The removed handler refuses new pods; the pod running on it keeps
	// working, and gets new containers.
	_, err := d.Runtime.RunPodSandbox(d.Ctx(), &runtime.RunPodSandboxRequest{Config: podConfig("refused"), RuntimeHandler: "doomed"})
	wantCode(t, err, codes.InvalidArgument)
	ctr := runContainer(t, d, doomedID, doomed, ctrConfig("still", img, "sleep", "3600"))
	waitState(t, d, ctr, runtime.ContainerState_CONTAINER_RUNNING)
	if got := execOut(t, d, ctr, "echo", "alive"); got != "alive" {
		t.Errorf("exec in a pod of a removed handler: %q", got)
	}
	stopAndRemoveContainer(t, d, ctr)
	for _, id := range []string{doomedID, addedID} {
		stopPod(t, d, id)
		removePod(t, d, id)
	}
}

// TestConfigReloadOfABadFileChangesNothing sends SIGHUP with a malformed
// file, an invalid value and an unknown key: each is logged with its
// cause, the daemon keeps serving with the old values, and a good file
// afterwards is applied.
func TestConfigReloadOfABadFileChangesNothing(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	changed := d.ConfigWith(t, func(c *config.Config) { c.SandboxImage = "example.test/pause:bad" })
	for i, tc := range []struct{ name, file, cause string }{
		{"malformed", string(changed) + "\n[runtimes.broken\n", "line "},
		{"invalid value", strings.Replace(string(changed), `log_level = 'debug'`, `log_level = 'loud'`, 1), `log_level \"loud\"`},
		{"unknown key", "no_such_key = 1\n" + string(changed), `line 1: unknown key \"no_such_key\"`},
	} {
		if tc.name == "invalid value" && !strings.Contains(tc.file, "'loud'") {
			t.Fatalf("test file has no log_level to spoil:\n%s", changed)
		}
		d.WriteConfig(t, []byte(tc.file))
		d.Reload(t)
		line := waitLogLine(t, d, "config reload failed; the running configuration is unchanged", i+1)
		if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, tc.cause) || !strings.Contains(line, d.ConfigPath) {
			t.Errorf("%s: failure line does not name the file and the cause %q: %s", tc.name, tc.cause, line)
		}
		cfg, _ := runningConfig(t, d)
		if cfg.SandboxImage != d.PauseImage || cfg.LogLevel != "debug" {
			t.Errorf("%s: Status reports sandbox_image %s, log_level %s: want the old values", tc.name, cfg.SandboxImage, cfg.LogLevel)
		}
	}
	if strings.Contains(d.Log(), `msg="config reloaded"`) {
		t.Fatalf("a bad file was reported as reloaded:\n%s", d.Log())
	}
	d.WriteConfig(t, changed)
	d.Reload(t)
	waitLogLine(t, d, `msg="config reloaded"`, 1)
	if cfg, _ := runningConfig(t, d); cfg.SandboxImage != "example.test/pause:bad" {
		t.Errorf("good file after bad ones not applied: sandbox_image %s", cfg.SandboxImage)
	}
}

// TestConfigReloadKeepsKeysThatCannotChange changes keys a running
// cricketd cannot change, with one that it can: each of the former is
// warned about by name and keeps its value.
func TestConfigReloadKeepsKeysThatCannotChange(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{})
	d.WriteConfig(t, d.ConfigWith(t, func(c *config.Config) {
		c.Listen = "unix:///run/cricket-elsewhere.sock"
		c.Root = filepath.Join(d.Dir, "other-root")
		c.Containerd.Namespace = "elsewhere"
		c.SandboxMode = config.SandboxModePinned
		c.Network.Mode = config.NetworkModeBridge
		c.LogLevel = "warn"
	}))
	d.Reload(t)
	line := waitLogLine(t, d, `msg="config reloaded"`, 1)
	if !strings.Contains(line, `changed="log_level: debug → warn"`) {
		t.Errorf("reload line: %s, want only log_level applied", line)
	}
	for _, key := range []string{"listen", "root", "containerd.namespace", "sandbox_mode", "network.mode"} {
		w := waitLogLine(t, d, "key="+key+" ", 1)
		if !strings.Contains(w, "level=WARN") || !strings.Contains(w, "cannot change while cricketd runs") {
			t.Errorf("warning about %s: %s", key, w)
		}
	}
	cfg, _ := runningConfig(t, d)
	if cfg.Listen != d.Config.Listen || cfg.Root != d.Config.Root || cfg.Containerd.Namespace != d.Config.Containerd.Namespace ||
		cfg.SandboxMode != d.Config.SandboxMode || cfg.Network.Mode != d.Config.Network.Mode {
		t.Errorf("Status reports changed immutable keys: %+v", cfg)
	}
	if cfg.LogLevel != "warn" {
		t.Errorf("log_level %s, want warn", cfg.LogLevel)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "other-root")); !os.IsNotExist(err) {
		t.Errorf("the refused root was created: %v", err)
	}
	if _, err := os.Stat("/run/cricket-elsewhere.sock"); !os.IsNotExist(err) {
		t.Errorf("the refused socket exists: %v", err)
	}
	// The daemon keeps serving on its socket, its pods in its namespace.
	if _, err := d.Images.ListImages(d.Ctx(), &runtime.ListImagesRequest{}); err != nil {
		t.Errorf("ListImages after the reload: %v", err)
	}
}
