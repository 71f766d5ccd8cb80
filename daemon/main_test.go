package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What a user gets from cricketd's command line before anything starts:
// the version, the flags, and a clear refusal of a bad flag or config.
func TestMainAnswersWithoutStarting(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("log_level = \"loud\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"version", []string{"--version"}, 0, []string{"cricketd "}},
		{"help", []string{"--help"}, 0, []string{"-config", "-listen", "-containerd-managed", "-version"}},
		{"bad flag", []string{"--bogus"}, 2, []string{"flag provided but not defined: -bogus", "Usage of cricketd"}},
		{"bad value", []string{"--config", bad}, 2, []string{"log_level", "loud", "debug, info, warn or error"}},
		{"missing file", []string{"--config", bad + ".missing"}, 2, []string{bad + ".missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := Main(tc.args, &out); code != tc.code {
				t.Errorf("exit code %d, want %d; output %q", code, tc.code, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q does not say %q", out.String(), w)
				}
			}
		})
	}
}
