package config

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func keys(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Key
	}
	return out
}

func TestDiffNamesKeysAndValues(t *testing.T) {
	a, b := Default(), Default()
	if d := Diff(a, b); len(d) != 0 {
		t.Fatalf("Diff of equal configs = %v", d)
	}
	b.LogLevel = "debug"
	b.Registry.ConfigPath = ""
	b.ImagePullProgressTimeout = Duration(time.Minute)
	b.CNI.BinDirs = []string{"/x"}
	b.Runtimes = map[string]Runtime{
		"runc":    {Type: RuncRuntimeType, BinaryName: "crun"},
		"kata":    {Type: "io.containerd.kata.v2"},
		"odd.one": {Type: RuncRuntimeType, SystemdCgroup: true},
	}
	got := Diff(a, b)
	want := []string{
		"log_level: info → debug",
		"image_pull_progress_timeout: 5m0s → 1m0s",
		`registry.config_path: /etc/containerd/certs.d → ""`,
		"cni.bin_dirs: [/opt/cni/bin, /usr/lib/cni] → [/x]",
		"runtimes.cricket: {type=io.containerd.cricket.v1} → (none)",
		"runtimes.kata: (none) → {type=io.containerd.kata.v2}",
		`runtimes."odd.one": (none) → {type=io.containerd.runc.v2, systemd_cgroup=true}`,
		`runtimes.runc.binary_name: "" → crun`,
	}
	var s []string
	for _, c := range got {
		s = append(s, c.String())
	}
	if strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Diff =\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
}

func TestReloadableKeys(t *testing.T) {
	for key, want := range map[string]bool{
		"log_level":               true,
		"sandbox_image":           true,
		"registry.config_path":    true,
		"default_runtime":         true,
		"runtimes.kata":           true,
		"runtimes.runc.root":      true,
		"log_format":              false,
		"listen":                  false,
		"root":                    false,
		"containerd.address":      false,
		"network.mode":            false,
		"sandbox_mode":            false,
		"sandbox_image_something": false,
		"registry":                false,
	} {
		if got := Reloadable(key); got != want {
			t.Errorf("Reloadable(%q) = %v, want %v", key, got, want)
		}
	}
}

// everything returns a config that differs from Default in every key
// this test knows, reloadable or not.
func everything() *Config {
	c := Default()
	c.Listen = "unix:///other.sock"
	c.Root, c.State = "/r", "/s"
	c.LogLevel = "debug"
	c.SandboxImage = "example.test/pause:2"
	c.SandboxMode = SandboxModePinned
	c.Containerd.Address = "/other/containerd.sock"
	c.Containerd.Namespace = "other"
	c.Network.Mode = NetworkModeBridge
	c.Registry.ConfigPath = "/etc/other/certs.d"
	c.DefaultRuntime = "runc"
	c.Runtimes = map[string]Runtime{"runc": {Type: RuncRuntimeType}, "kata": {Type: "io.containerd.kata.v2"}}
	return c
}

func TestPlanReloadAppliesOnlyReloadableKeys(t *testing.T) {
	running, loaded := Default(), everything()
	r := PlanReload(running, running, loaded)
	for _, c := range r.Applied {
		if !Reloadable(c.Key) {
			t.Errorf("applied a key that cannot change at run time: %v", c)
		}
	}
	for _, c := range r.Refused {
		if Reloadable(c.Key) {
			t.Errorf("refused a reloadable key: %v", c)
		}
	}
	wantApplied := []string{"log_level", "sandbox_image", "registry.config_path", "default_runtime", "runtimes.cricket", "runtimes.kata"}
	if got := keys(r.Applied); !slices.Equal(got, wantApplied) {
		t.Errorf("applied %v, want %v", got, wantApplied)
	}
	wantRefused := []string{"listen", "root", "state", "sandbox_mode", "containerd.address", "containerd.namespace", "network.mode"}
	if got := keys(r.Refused); !slices.Equal(got, wantRefused) {
		t.Errorf("refused %v, want %v", got, wantRefused)
	}
	// A refused key keeps its running value, and says so.
	for _, c := range r.Refused {
		if c.Key == "root" && (c.Old != "/var/lib/cricket" || c.New != "/r") {
			t.Errorf("refused root reads %v, want running /var/lib/cricket, file /r", c)
		}
	}
	if r.Next.Root != running.Root || r.Next.Listen != running.Listen || r.Next.SandboxImage != loaded.SandboxImage {
		t.Errorf("next config mixes up the keys: %+v", r.Next)
	}
	// Nothing reloadable is left different from the file.
	for _, c := range Diff(r.Next, loaded) {
		if Reloadable(c.Key) {
			t.Errorf("next differs from the file in reloadable %v", c)
		}
	}
	// The running config is untouched, and next shares no map with the
	// file's (both are read without locks once published).
	if len(Diff(running, Default())) != 0 {
		t.Errorf("PlanReload modified the running config: %v", Diff(running, Default()))
	}
	loaded.Runtimes["late"] = Runtime{}
	if _, ok := r.Next.Runtimes["late"]; ok {
		t.Error("next config shares its runtimes map with the loaded one")
	}
}

func TestPlanReloadComparesImmutableKeysWithTheFileNotSubstitutions(t *testing.T) {
	// A managed containerd's address is substituted at start-up into the
	// running config; the file still says the default. That is no change.
	base := Default()
	base.Containerd.Managed = true
	running := *base
	running.Containerd.Address = "/run/cricket/containerd/containerd.sock"
	loaded := *base
	r := PlanReload(&running, base, &loaded)
	if len(r.Applied) != 0 || len(r.Refused) != 0 {
		t.Fatalf("unchanged file: applied %v, refused %v", r.Applied, r.Refused)
	}
	if r.Next.Containerd.Address != running.Containerd.Address {
		t.Errorf("substituted address lost: %s", r.Next.Containerd.Address)
	}
	loaded.Containerd.Namespace = "other"
	if r := PlanReload(&running, base, &loaded); !slices.Equal(keys(r.Refused), []string{"containerd.namespace"}) {
		t.Errorf("refused %v, want containerd.namespace only", r.Refused)
	}
}

func TestLiveSwapUnderConcurrentReaders(t *testing.T) {
	live := NewLive(Default())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := live.Get()
				// One Get is one consistent config.
				if _, ok := c.Runtimes[c.DefaultRuntime]; !ok {
					t.Error("default runtime missing from the same config")
					return
				}
			}
		}()
	}
	for i := range 200 {
		loaded := Default()
		loaded.DefaultRuntime = []string{RuncRuntimeHandler, CricketRuntimeHandler}[i%2]
		loaded.Runtimes = map[string]Runtime{loaded.DefaultRuntime: {Type: RuncRuntimeType}}
		running := live.Get()
		live.Swap(PlanReload(running, running, loaded).Next)
	}
	close(stop)
	wg.Wait()
}
