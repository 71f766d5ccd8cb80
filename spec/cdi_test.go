package spec

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cdiSpec is a CDI spec of vendor.test/dev with one device, name, that
// presents /dev/null at /dev/<name> and sets env VAR=<value>.
func cdiSpec(name, value string) string {
	return `cdiVersion: "0.6.0"
kind: vendor.test/dev
devices:
  - name: ` + name + `
    containerEdits:
      env: ["CDI_` + strings.ToUpper(name) + `=` + value + `"]
      deviceNodes:
        - path: /dev/` + name + `
          hostPath: /dev/null
containerEdits:
  env: ["CDI_VENDOR=vendor.test"]
  mounts:
    - hostPath: /etc/hostname
      containerPath: /etc/cdi-hostname
      options: [ro, bind]
`
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newTestCDI(t *testing.T, dirs ...string) *CDI {
	t.Helper()
	r, err := NewCDI(dirs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func cdiConfig(fieldDevices []string, annotations map[string]string) *runtime.ContainerConfig {
	cfg := &runtime.ContainerConfig{Annotations: annotations}
	for _, d := range fieldDevices {
		cfg.CDIDevices = append(cfg.CDIDevices, &runtime.CDIDevice{Name: d})
	}
	return cfg
}

func TestCDIDeviceNames(t *testing.T) {
	got, err := CDIDeviceNames(cdiConfig([]string{"vendor.test/dev=b", "vendor.test/dev=a"}, map[string]string{
		"cdi.k8s.io/z-plugin": "vendor.test/dev=c",
		"cdi.k8s.io/a-plugin": "vendor.test/dev=d,vendor.test/dev=b",
		"other":               "not a device",
	}))
	if err != nil {
		t.Fatal(err)
	}
	// The field in order, then annotations by key, each device once.
	want := []string{"vendor.test/dev=b", "vendor.test/dev=a", "vendor.test/dev=d", "vendor.test/dev=c"}
	if !slices.Equal(got, want) {
		t.Errorf("names = %q, want %q", got, want)
	}
	for name, cfg := range map[string]*runtime.ContainerConfig{
		"no class":           cdiConfig([]string{"vendor.test=x"}, nil),
		"empty":              cdiConfig([]string{""}, nil),
		"bad annotation":     cdiConfig(nil, map[string]string{"cdi.k8s.io/p": "vendor.test/dev=ok,nonsense"}),
		"empty annotation":   cdiConfig(nil, map[string]string{"cdi.k8s.io/p": ""}),
		"bad character name": cdiConfig([]string{"vendor.test/dev=a b"}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := CDIDeviceNames(cfg)
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("err = %v, want InvalidArgument", err)
			}
		})
	}
}

func TestCDIResolveAndInject(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "dev.yaml"), cdiSpec("cdi0", "zero"))
	r := newTestCDI(t, dir)
	devs, err := r.Resolve(cdiConfig([]string{"vendor.test/dev=cdi0"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	s := &specs.Spec{
		Process: &specs.Process{Env: []string{"PATH=/bin"}, User: specs.User{UID: 1000, GID: 2000}},
		Linux:   &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}},
	}
	if err := devs.inject(s); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"CDI_CDI0=zero", "CDI_VENDOR=vendor.test"} {
		if !slices.Contains(s.Process.Env, e) {
			t.Errorf("env %q missing: %q", e, s.Process.Env)
		}
	}
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/cdi0" || s.Linux.Devices[0].Type != "c" ||
		s.Linux.Devices[0].Major != 1 || s.Linux.Devices[0].Minor != 3 || *s.Linux.Devices[0].UID != 1000 {
		t.Errorf("devices = %+v", s.Linux.Devices)
	}
	// The allow rule comes after the default deny-all, or it would not count.
	rules := s.Linux.Resources.Devices
	if last := rules[len(rules)-1]; len(rules) != 2 || !last.Allow || *last.Major != 1 || *last.Minor != 3 || last.Access != "rwm" {
		t.Errorf("device cgroup rules = %+v", rules)
	}
	if len(s.Mounts) != 1 || s.Mounts[0].Destination != "/etc/cdi-hostname" {
		t.Errorf("mounts = %+v", s.Mounts)
	}
}

func TestCDIErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "dev.yaml"), cdiSpec("cdi0", "zero"))
	writeFile(t, filepath.Join(dir, "broken.json"), "{not json")
	writeFile(t, filepath.Join(dir, "gone.yaml"), strings.ReplaceAll(strings.ReplaceAll(cdiSpec("gone", "x"), "/dev/null", "/dev/cdi-no-such-node"), "vendor.test/dev", "vendor.test/gone"))
	r := newTestCDI(t, dir)

	_, err := r.Resolve(cdiConfig([]string{"vendor.test/dev=cdi0", "vendor.test/dev=nope"}, nil))
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), `"vendor.test/dev=nope"`) || strings.Contains(err.Error(), `"vendor.test/dev=cdi0"`) {
		t.Errorf("unknown device: %v; want InvalidArgument naming only it", err)
	}
	if !strings.Contains(err.Error(), "broken.json") {
		t.Errorf("unknown device: %v; want it to mention the spec file that did not load", err)
	}
	_, err = r.Resolve(cdiConfig(nil, map[string]string{"cdi.k8s.io/x": "vendor.test/dev"}))
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), `"vendor.test/dev"`) {
		t.Errorf("malformed device: %v; want InvalidArgument naming it", err)
	}
	_, err = r.Resolve(cdiConfig([]string{"vendor.test/gone=gone"}, nil))
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "/dev/cdi-no-such-node") {
		t.Errorf("device without its host node: %v; want FailedPrecondition naming the node", err)
	}
	var disabled *CDI
	_, err = disabled.Resolve(cdiConfig([]string{"vendor.test/dev=cdi0"}, nil))
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "vendor.test/dev=cdi0") {
		t.Errorf("CDI disabled: %v; want FailedPrecondition naming the device", err)
	}
	if d, err := disabled.Resolve(cdiConfig(nil, map[string]string{"other": "x"})); d != nil || err != nil {
		t.Errorf("no devices with CDI disabled: %v, %v", d, err)
	}
}

// A spec written, rewritten or removed is seen by the next request, with
// no wait: the request compares the directories with what was loaded.
func TestCDIRefresh(t *testing.T) {
	static, dynamic := t.TempDir(), filepath.Join(t.TempDir(), "not-yet")
	r := newTestCDI(t, static, dynamic)
	env := func(names ...string) []string {
		t.Helper()
		d, err := r.Resolve(cdiConfig(names, nil))
		if err != nil {
			t.Fatal(err)
		}
		s := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
		if err := d.inject(s); err != nil {
			t.Fatal(err)
		}
		return s.Process.Env
	}
	if _, err := r.Resolve(cdiConfig([]string{"vendor.test/dev=cdi0"}, nil)); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("before the spec: %v", err)
	}
	writeFile(t, filepath.Join(static, "dev.yaml"), cdiSpec("cdi0", "one"))
	if e := env("vendor.test/dev=cdi0"); !slices.Contains(e, "CDI_CDI0=one") {
		t.Errorf("new spec: env %q", e)
	}
	// Same size, rewritten in place right away: same inode, maybe the
	// same timestamps.
	writeFile(t, filepath.Join(static, "dev.yaml"), cdiSpec("cdi0", "two"))
	if e := env("vendor.test/dev=cdi0"); !slices.Contains(e, "CDI_CDI0=two") {
		t.Errorf("rewritten spec: env %q", e)
	}
	// A directory that did not exist at start, with a higher priority.
	if err := os.Mkdir(dynamic, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dynamic, "dev.yaml"), cdiSpec("cdi0", "dyn"))
	if e := env("vendor.test/dev=cdi0"); !slices.Contains(e, "CDI_CDI0=dyn") {
		t.Errorf("spec in the later directory: env %q", e)
	}
	if err := os.RemoveAll(dynamic); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(static, "dev.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(cdiConfig([]string{"vendor.test/dev=cdi0"}, nil)); !errdefs.IsInvalidArgument(err) {
		t.Errorf("after the spec was removed: %v", err)
	}
}

func TestCDIDirStateSettles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "dev.yaml"), "x")
	st := readCDIDirState([]string{dir})
	if st.settledAt(st.youngest) {
		t.Error("a state read as a file changes must not count as settled")
	}
	if !st.settledAt(st.youngest.Add(cdiTimestampSlack + 1)) {
		t.Error("a state read well after the last change must count as settled")
	}
	writeFile(t, filepath.Join(dir, "dev.yaml"), "xy")
	if st.equal(readCDIDirState([]string{dir})) {
		t.Error("a rewritten file must change the state")
	}
	writeFile(t, filepath.Join(dir, "other.json"), "x")
	writeFile(t, filepath.Join(dir, "notes.txt"), "not a spec")
	if got := readCDIDirState([]string{dir}); len(got.files) != 2 {
		t.Errorf("files = %+v, want the two spec files", got.files)
	}
}
