package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestMissingDefaultFileMeansDefaults(t *testing.T) {
	cfg, err := Load(filepath.Join(t.TempDir(), "nope.toml"), false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SandboxImage != DefaultSandboxImage || cfg.Containerd.Namespace != "k8s.io" {
		t.Fatalf("not defaults: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

func TestMissingExplicitFileIsAnError(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.toml"), true); err == nil {
		t.Fatal("want an error for a missing explicit config file")
	}
}

func write(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileOverridesDefaults(t *testing.T) {
	p := write(t, `
sandbox_image = "example.test/pause:1"
image_pull_progress_timeout = "30s"
[containerd]
namespace = "cricket-test"
[cni]
bin_dirs = ["/x"]
[runtimes.kata]
binary_name = "kata"
[nri]
enable = true
plugin_request_timeout = "500ms"
`)
	cfg, err := Load(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.SandboxImage != "example.test/pause:1" || time.Duration(cfg.ImagePullProgressTimeout) != 30*time.Second {
		t.Errorf("top-level keys not applied: %+v", cfg)
	}
	if cfg.Containerd.Namespace != "cricket-test" || cfg.Containerd.Address != DefaultContainerdAddress {
		t.Errorf("table keys not merged over defaults: %+v", cfg.Containerd)
	}
	if len(cfg.CNI.BinDirs) != 1 || cfg.CNI.BinDirs[0] != "/x" {
		t.Errorf("cni.bin_dirs = %v", cfg.CNI.BinDirs)
	}
	if !cfg.NRI.Enable || time.Duration(cfg.NRI.PluginRequestTimeout) != 500*time.Millisecond || cfg.NRI.SocketPath != DefaultNRISocketPath {
		t.Errorf("nri = %+v", cfg.NRI)
	}
	if cfg.Runtimes["kata"].Type != DefaultRuntimeType || cfg.Runtimes["runc"].Type != DefaultRuntimeType {
		t.Errorf("runtimes = %+v", cfg.Runtimes)
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown key":   {"sandbox_image = \"a\"\n\nno_such_key = 1\n", "line 3"},
		"unknown table": {"[containerd]\nadress = \"x\"\n", "line 2"},
		"malformed":     {"a = \n", "line 1"},
		"bad duration":  {"\nimage_pull_progress_timeout = \"soon\"\n", "line 2"},
		"wrong type":    {"max_container_log_line_size = \"big\"\n", "line 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(write(t, tc.doc), true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"relative socket":    func(c *Config) { c.Listen = "unix://cricket.sock" },
		"tcp listen":         func(c *Config) { c.Listen = "tcp://0.0.0.0:1" },
		"bad cgroup driver":  func(c *Config) { c.CgroupDriver = "nope" },
		"relative root":      func(c *Config) { c.Root = "var/lib" },
		"bad stream address": func(c *Config) { c.StreamServer.Address = "localhost" },
		"no default runtime": func(c *Config) { delete(c.Runtimes, c.DefaultRuntime) },
		"unknown default":    func(c *Config) { c.DefaultRuntime = "nope" },
		"zero log line size": func(c *Config) { c.MaxContainerLogLineSize = 0 },
		"bad log level":      func(c *Config) { c.LogLevel = "loud" },
		"bad sandbox mode":   func(c *Config) { c.SandboxMode = "pauseless" },
		"no cdi spec dirs":   func(c *Config) { c.CDI.SpecDirs = nil },
		"relative cdi dir":   func(c *Config) { c.CDI.SpecDirs = []string{"etc/cdi"} },
		"relative nri sock":  func(c *Config) { c.NRI.SocketPath = "nri.sock" },
		"long nri sock":      func(c *Config) { c.NRI.SocketPath = "/" + strings.Repeat("n", 107) },
		"zero nri timeout":   func(c *Config) { c.NRI.PluginRequestTimeout = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			c := Default()
			mut(c)
			if err := c.Validate(); err == nil {
				t.Fatal("want a validation error")
			}
		})
	}
}

func TestExampleConfigMatchesDefaults(t *testing.T) {
	// contrib/config.toml documents every key with its default value; decoding
	// it must yield exactly the defaults, so the documentation cannot drift.
	data, err := os.ReadFile("../contrib/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	// Decode over a zero Config, so that a key missing from the file shows.
	got := &Config{}
	if err := Decode(data, got); err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Default()
	if a, b := dump(t, got), dump(t, want); a != b {
		t.Fatalf("contrib/config.toml differs from Default():\n%s\nvs\n%s", a, b)
	}
}

func dump(t *testing.T, c *Config) string {
	t.Helper()
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCDIKeys(t *testing.T) {
	// A file without [cdi] keeps CDI on with the standard directories.
	cfg, err := Load(write(t, "sandbox_image = \"example.test/pause:1\"\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.CDI.Enabled || strings.Join(cfg.CDI.SpecDirs, ",") != "/etc/cdi,/var/run/cdi" {
		t.Errorf("cdi without the table = %+v, want enabled with /etc/cdi and /var/run/cdi", cfg.CDI)
	}
	cfg, err = Load(write(t, "[cdi]\nenabled = false\nspec_dirs = [\"/opt/cdi\"]\n"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.CDI.Enabled || strings.Join(cfg.CDI.SpecDirs, ",") != "/opt/cdi" {
		t.Errorf("cdi = %+v, want disabled with /opt/cdi only", cfg.CDI)
	}
	// Off, no directories are needed.
	cfg.CDI.SpecDirs = nil
	if err := cfg.Validate(); err != nil {
		t.Errorf("disabled CDI without spec_dirs: %v", err)
	}
}
