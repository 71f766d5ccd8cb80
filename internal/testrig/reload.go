package testrig

import (
	"os"
	"syscall"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/cricket-cri/cricket/config"
)

// ConfigWith returns the daemon's config file as it was started, edited
// by edit (on a copy: d.Config keeps describing the daemon as started).
func (d *Daemon) ConfigWith(tb testing.TB, edit func(*config.Config)) []byte {
	tb.Helper()
	data, err := toml.Marshal(d.Config)
	if err != nil {
		tb.Fatal(err)
	}
	// A deep copy: decoded over a zero config, so no map is shared.
	c := &config.Config{}
	if err := config.Decode(data, c); err != nil {
		tb.Fatal(err)
	}
	edit(c)
	if data, err = toml.Marshal(c); err != nil {
		tb.Fatal(err)
	}
	return data
}

// WriteConfig replaces the daemon's config file; Reload makes it read it.
func (d *Daemon) WriteConfig(tb testing.TB, data []byte) {
	tb.Helper()
	if err := os.WriteFile(d.ConfigPath, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Reload sends the daemon SIGHUP, which makes it reload its config file.
func (d *Daemon) Reload(tb testing.TB) {
	tb.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		tb.Fatalf("SIGHUP to cricketd: %v", err)
	}
}
