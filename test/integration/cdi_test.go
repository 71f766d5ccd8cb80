package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// cdiRig is a daemon whose CDI spec directory is the test's, with the
// host files its specs refer to.
type cdiRig struct {
	d         *testrig.Daemon
	img       string
	specDir   string
	dataFile  string // host file the test device mounts at /cdi/data.txt
	hookDir   string // where the test device's createRuntime hook writes
	loopCtl   bool   // the host has /dev/loop-control
	base      testrig.Resources
	cgroupPar string
}

const cdiData = "hello from a CDI mount\n"

func startCDIRig(t *testing.T) *cdiRig {
	t.Helper()
	r := &cdiRig{specDir: t.TempDir(), hookDir: t.TempDir()}
	r.dataFile = filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(r.dataFile, []byte(cdiData), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := os.Stat("/dev/loop-control")
	r.loopCtl = err == nil
	// The spec is there before cricketd starts: loaded at start.
	r.writeSpec(t, "test.yaml", r.testSpec())
	r.d = handlerDaemon(t, testrig.DaemonOptions{Configure: func(c *config.Config) {
		c.CDI.SpecDirs = []string{r.specDir}
	}})
	r.img = busybox(t, r.d)
	r.base = censusBase(t, r.d)
	r.cgroupPar = r.d.CgroupParent("")
	return r
}

// testSpec is vendor.test/cdi=test0: /dev/null presented as
// /dev/cdi-test0, /dev/loop-control (not among the devices a container
// may open by default: its devices cgroup rule must come from CDI) as
// /dev/cdi-loopctl, an env var, the data file read-only at
// /cdi/data.txt, and a createRuntime hook that records the container's
// state; the spec-wide edits add CDI_VENDOR.
func (r *cdiRig) testSpec() string {
	loop := ""
	if r.loopCtl {
		loop = "\n        - path: /dev/cdi-loopctl\n          hostPath: /dev/loop-control"
	}
	return fmt.Sprintf(`cdiVersion: "0.6.0"
kind: vendor.test/cdi
devices:
  - name: test0
    containerEdits:
      env: ["CDI_TEST=test0"]
      deviceNodes:
        - path: /dev/cdi-test0
          hostPath: /dev/null%s
      mounts:
        - hostPath: %s
          containerPath: /cdi/data.txt
          options: [ro, bind]
      hooks:
        - hookName: createRuntime
          path: /bin/sh
          args: [sh, -c, 'cat > "$(mktemp -p %s)"']
          env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
containerEdits:
  env: ["CDI_VENDOR=vendor.test"]
`, loop, r.dataFile, r.hookDir)
}

// writeSpec writes a spec file as a driver would: to a temporary name
// the library ignores, renamed into place.
func (r *cdiRig) writeSpec(t *testing.T, name, content string) {
	t.Helper()
	tmp := filepath.Join(r.specDir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(r.specDir, name)); err != nil {
		t.Fatal(err)
	}
}

func (r *cdiRig) pod(t *testing.T, name, handler string) (string, *runtime.PodSandboxConfig) {
	t.Helper()
	pod := podConfig(name)
	pod.LogDirectory = t.TempDir()
	pod.Linux.CgroupParent = r.cgroupPar
	return runPodOn(t, r.d, pod, handler), pod
}

func (r *cdiRig) create(podID string, pod *runtime.PodSandboxConfig, cfg *runtime.ContainerConfig) (string, error) {
	resp, err := r.d.Runtime.CreateContainer(r.d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	return resp.GetContainerId(), err
}

func withCDIDevices(cfg *runtime.ContainerConfig, names ...string) *runtime.ContainerConfig {
	for _, n := range names {
		cfg.CDIDevices = append(cfg.CDIDevices, &runtime.CDIDevice{Name: n})
	}
	return cfg
}

func withAnnotation(cfg *runtime.ContainerConfig, k, v string) *runtime.ContainerConfig {
	if cfg.Annotations == nil {
		cfg.Annotations = map[string]string{}
	}
	cfg.Annotations[k] = v
	return cfg
}

// nullDevice matches ls -l of a character device 1, 3 (/dev/null's).
var nullDevice = regexp.MustCompile(`^c[-rwx]{9}\s.*\s1,\s+3\s.*/dev/cdi-test0$`)

// checkTestDevice checks, from inside container id, everything
// vendor.test/cdi=test0 promises.
func (r *cdiRig) checkTestDevice(t *testing.T, id string) {
	t.Helper()
	d := r.d
	if out := execOut(t, d, id, "ls", "-l", "/dev/cdi-test0"); !nullDevice.MatchString(out) {
		t.Errorf("ls -l /dev/cdi-test0 = %q, want character device 1, 3", out)
	}
	if out := execOut(t, d, id, "sh", "-c", "echo discarded > /dev/cdi-test0 && echo written"); out != "written" {
		t.Errorf("writing to /dev/cdi-test0: %q", out)
	}
	env := strings.Split(execOut(t, d, id, "env"), "\n")
	for _, want := range []string{"CDI_TEST=test0", "CDI_VENDOR=vendor.test"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %q", want, env)
		}
	}
	if out := execOut(t, d, id, "cat", "/cdi/data.txt"); out+"\n" != cdiData {
		t.Errorf("cat /cdi/data.txt = %q, want %q", out, cdiData)
	}
	if _, _, code := execSync(t, d, id, "sh", "-c", "echo more >> /cdi/data.txt"); code == 0 {
		t.Error("the read-only CDI mount /cdi/data.txt is writable")
	}
	if r.loopCtl {
		// Opening it needs the devices cgroup rule CDI adds.
		if out, errOut, code := execSync(t, d, id, "sh", "-c", "exec 3</dev/cdi-loopctl && echo opened"); strings.TrimSpace(out) != "opened" {
			t.Errorf("opening /dev/cdi-loopctl: exit %d, %q %q", code, out, errOut)
		}
	}
	if !r.hookRan(t, id) {
		t.Errorf("the createRuntime hook did not run for %s", id)
	}
}

// hookRan says whether the test device's hook was given id's state.
func (r *cdiRig) hookRan(t *testing.T, id string) bool {
	t.Helper()
	ents, err := os.ReadDir(r.hookDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(r.hookDir, e.Name()))
		if strings.Contains(string(b), `"id":"`+id+`"`) {
			return true
		}
	}
	return false
}

// stateFiles lists cricketd's per-container state: checkpoints and
// container directories.
func stateFiles(t *testing.T, d *testrig.Daemon) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{filepath.Join(d.Config.Root, "containers"), filepath.Join(d.Config.State, "containers")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// TestCDI: containers get CDI devices by CDI_devices and by annotation,
// on both runtime handlers; bad requests fail before anything exists; a
// spec written while cricketd runs is used at once.
func TestCDI(t *testing.T) {
	t.Parallel()
	r := startCDIRig(t)
	d := r.d

	for _, h := range handlers {
		t.Run("devices on "+h, func(t *testing.T) {
			podID, pod := r.pod(t, "cdi-"+h, h)
			byField := runContainer(t, d, podID, pod, withCDIDevices(ctrConfig("by-field", r.img, "sleep", "3600"), "vendor.test/cdi=test0"))
			byAnnotation := runContainer(t, d, podID, pod, withAnnotation(ctrConfig("by-annotation", r.img, "sleep", "3600"), "cdi.k8s.io/test-plugin", "vendor.test/cdi=test0"))
			plain := runContainer(t, d, podID, pod, ctrConfig("plain", r.img, "sleep", "3600"))
			r.checkTestDevice(t, byField)
			r.checkTestDevice(t, byAnnotation)
			// Without the device, none of it: the checks above can fail.
			if _, _, code := execSync(t, d, plain, "ls", "/dev/cdi-test0"); code == 0 {
				t.Error("/dev/cdi-test0 in a container that did not ask for it")
			}
			if env := execOut(t, d, plain, "env"); strings.Contains(env, "CDI_") {
				t.Errorf("CDI env in a container that did not ask for it: %q", env)
			}
			if r.loopCtl {
				if _, _, code := execSync(t, d, plain, "sh", "-c", "mknod /tmp/lc c 10 237 && exec 3</tmp/lc"); code == 0 {
					t.Error("a container without the CDI device may create and open 10:237: the test proves no cgroup rule")
				}
			}
			if r.hookRan(t, plain) {
				t.Error("the CDI hook ran for a container that did not ask for the device")
			}
			for _, id := range []string{byField, byAnnotation, plain} {
				stopAndRemoveContainer(t, d, id)
			}
			stopPod(t, d, podID)
			removePod(t, d, podID)
		})
	}

	t.Run("bad devices leave nothing", func(t *testing.T) {
		podID, pod := r.pod(t, "cdi-bad", config.DefaultRuntimeHandler)
		before, files := d.Resources(t, r.cgroupPar), stateFiles(t, d)
		// A spec whose device node is not on this host.
		r.writeSpec(t, "missing.yaml", `cdiVersion: "0.6.0"
kind: vendor.test/missing
devices:
  - name: gone
    containerEdits:
      deviceNodes:
        - path: /dev/cdi-gone
          hostPath: /dev/cdi-no-such-node
`)
		for i, tc := range []struct {
			name  string
			cfg   func(*runtime.ContainerConfig) *runtime.ContainerConfig
			code  codes.Code
			names string
		}{
			{"unknown device", func(c *runtime.ContainerConfig) *runtime.ContainerConfig {
				return withCDIDevices(c, "vendor.test/cdi=test0", "vendor.test/cdi=nope")
			}, codes.InvalidArgument, "vendor.test/cdi=nope"},
			{"unknown device by annotation", func(c *runtime.ContainerConfig) *runtime.ContainerConfig {
				return withAnnotation(c, "cdi.k8s.io/p", "vendor.test/other=x")
			}, codes.InvalidArgument, "vendor.test/other=x"},
			{"malformed device", func(c *runtime.ContainerConfig) *runtime.ContainerConfig {
				return withCDIDevices(c, "vendor.test/cdi")
			}, codes.InvalidArgument, "vendor.test/cdi"},
			{"malformed device by annotation", func(c *runtime.ContainerConfig) *runtime.ContainerConfig {
				return withAnnotation(c, "cdi.k8s.io/p", "vendor.test/cdi=test0,test1")
			}, codes.InvalidArgument, "test1"},
			{"device node missing on the host", func(c *runtime.ContainerConfig) *runtime.ContainerConfig {
				return withCDIDevices(c, "vendor.test/missing=gone")
			}, codes.FailedPrecondition, "/dev/cdi-no-such-node"},
		} {
			_, err := r.create(podID, pod, tc.cfg(ctrConfig(fmt.Sprintf("bad%d", i), r.img, "true")))
			if codeOf(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.names) {
				t.Errorf("%s: %v; want %v naming %q", tc.name, err, tc.code, tc.names)
			}
		}
		resp, err := d.Runtime.ListContainers(d.Ctx(), &runtime.ListContainersRequest{Filter: &runtime.ContainerFilter{PodSandboxId: podID}})
		if err != nil || len(resp.Containers) != 0 {
			t.Errorf("containers after the refused requests: %v %v", resp.GetContainers(), err)
		}
		if diff := before.Diff(d.Resources(t, r.cgroupPar)); diff != "" {
			t.Errorf("refused requests left behind:\n%s", diff)
		}
		if after := stateFiles(t, d); !slices.Equal(after, files) {
			t.Errorf("state files after the refused requests: %q, before %q", after, files)
		}
		stopPod(t, d, podID)
		removePod(t, d, podID)
	})

	t.Run("spec written while running", func(t *testing.T) {
		podID, pod := r.pod(t, "cdi-late", config.DefaultRuntimeHandler)
		// JSON this time (test.yaml is YAML).
		late := func(value string) string {
			return `{"cdiVersion": "0.6.0", "kind": "vendor.test/late", "devices": [{"name": "dev0", "containerEdits": {` +
				`"env": ["CDI_LATE=` + value + `"], "deviceNodes": [{"path": "/dev/cdi-late0", "hostPath": "/dev/null"}]}}]}`
		}
		ask := func(name string) *runtime.ContainerConfig {
			return withCDIDevices(ctrConfig(name, r.img, "sleep", "3600"), "vendor.test/late=dev0")
		}
		if _, err := r.create(podID, pod, ask("before")); codeOf(err) != codes.InvalidArgument {
			t.Fatalf("before the spec exists: %v; want InvalidArgument", err)
		}
		// No wait: the call right after the write sees the spec.
		r.writeSpec(t, "late.json", late("one"))
		first := runContainer(t, d, podID, pod, ask("first"))
		if env := execOut(t, d, first, "env"); !strings.Contains(env, "CDI_LATE=one") {
			t.Errorf("env with the new spec: %q", env)
		}
		// Rewritten in place (same size, same inode), then used at once.
		if err := os.WriteFile(filepath.Join(r.specDir, "late.json"), []byte(late("two")), 0o644); err != nil {
			t.Fatal(err)
		}
		second := runContainer(t, d, podID, pod, ask("second"))
		if env := execOut(t, d, second, "env"); !strings.Contains(env, "CDI_LATE=two") {
			t.Errorf("env after the spec was rewritten: %q", env)
		}
		if err := os.Remove(filepath.Join(r.specDir, "late.json")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.create(podID, pod, ask("after")); codeOf(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "vendor.test/late=dev0") {
			t.Errorf("after the spec was removed: %v; want InvalidArgument naming the device", err)
		}
		for _, id := range []string{first, second} {
			stopAndRemoveContainer(t, d, id)
		}
		stopPod(t, d, podID)
		removePod(t, d, podID)
	})

	t.Run("spec dirs reload on SIGHUP", func(t *testing.T) {
		podID, pod := r.pod(t, "cdi-reload", config.DefaultRuntimeHandler)
		extra := t.TempDir()
		spec := `{"cdiVersion": "0.6.0", "kind": "vendor.test/extra", "devices": [{"name": "dev0", "containerEdits": {"env": ["CDI_EXTRA=yes"]}}]}`
		if err := os.WriteFile(filepath.Join(extra, "extra.json"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		ask := func(name string) *runtime.ContainerConfig {
			return withCDIDevices(ctrConfig(name, r.img, "sleep", "3600"), "vendor.test/extra=dev0")
		}
		if _, err := r.create(podID, pod, ask("before")); codeOf(err) != codes.InvalidArgument {
			t.Fatalf("a device of a directory not configured: %v; want InvalidArgument", err)
		}
		d.WriteConfig(t, d.ConfigWith(t, func(c *config.Config) { c.CDI.SpecDirs = []string{r.specDir, extra} }))
		d.Reload(t)
		line := waitLogLine(t, d, `msg="config reloaded"`, 1)
		if want := "cdi.spec_dirs: [" + r.specDir + "] → [" + r.specDir + ", " + extra + "]"; !strings.Contains(line, want) {
			t.Errorf("reload line %q does not say %q", line, want)
		}
		after := runContainer(t, d, podID, pod, ask("after"))
		if env := execOut(t, d, after, "env"); !strings.Contains(env, "CDI_EXTRA=yes") {
			t.Errorf("env of a container asking for a device of the reloaded directory: %q", env)
		}
		stopAndRemoveContainer(t, d, after)
		stopPod(t, d, podID)
		removePod(t, d, podID)
	})

	checkNoLeaks(t, d, r.base)
}
