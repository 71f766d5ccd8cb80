package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/spec"
)

// Reloads is how a running cricketd is asked to read its config again
// (SIGHUP, as CRI-O does). The zero value never reloads.
type Reloads struct {
	// Signals delivers one value per request.
	Signals <-chan os.Signal
	// Load reads the config file again, applies the command-line flags
	// over it (they keep winning over the file) and validates it, as at
	// start-up.
	Load func() (*config.Config, error)
	// Path is the config file, for log lines.
	Path string
}

// reloader applies reloads to the running configuration, one at a time.
type reloader struct {
	live *config.Live
	// base is what the file and flags said for the running config, before
	// the values Run substitutes (a managed containerd's address): a
	// reload compares the keys it cannot apply with these.
	base *config.Config
	load func() (*config.Config, error)
	path string
	log  *slog.Logger
	// cdi is the CDI registry (nil: CDI is disabled).
	cdi *spec.CDI
}

// run reloads for every signal until ctx ends.
func (r *reloader) run(ctx context.Context, signals <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			r.reload(ctx)
		}
	}
}

// reload reads the file and applies what can change at run time. A file
// that does not load or validate changes nothing; keys that cannot change
// while cricketd runs are named in a warning each and keep their running
// value. One line says what changed.
func (r *reloader) reload(ctx context.Context) {
	loaded, err := r.load()
	if err == nil {
		err = checkReloaded(loaded)
	}
	if err != nil {
		r.log.Error("config reload failed; the running configuration is unchanged", "config", r.path, "error", err)
		return
	}
	plan := config.PlanReload(r.live.Get(), r.base, loaded)
	for _, c := range plan.Refused {
		r.log.Warn("config reload: this key cannot change while cricketd runs; keeping the running value",
			"config", r.path, "key", c.Key, "running", c.Old, "file", c.New)
	}
	changed := "nothing changed"
	if len(plan.Applied) > 0 {
		parts := make([]string, len(plan.Applied))
		for i, c := range plan.Applied {
			parts[i] = c.String()
		}
		changed = strings.Join(parts, "; ")
	}
	// The line is written at info under the old level or the new one,
	// whichever shows it: a reload to "warn" still confirms itself.
	before := r.log.Enabled(ctx, slog.LevelInfo)
	if before {
		r.log.Info("config reloaded", "config", r.path, "changed", changed)
	}
	old := r.live.Swap(plan.Next)
	r.base = plan.NextBase
	applyClientLogLevel(plan.Next.LogLevel)
	r.applyCDISpecDirs(old, plan.Next)
	if !before {
		r.log.Info("config reloaded", "config", r.path, "changed", changed)
	}
}

// checkReloaded checks what Validate cannot and start-up checks when it
// builds the services: a reload that would fail there is refused whole.
func checkReloaded(cfg *config.Config) error {
	if _, err := image.ParseRef(cfg.SandboxImage); err != nil {
		return fmt.Errorf("sandbox_image: %w", err)
	}
	return nil
}

// applyCDISpecDirs points the CDI registry at next's spec directories
// (Validate checked them, so a bad value refused the whole reload).
// Without CDI there is nothing to apply.
func (r *reloader) applyCDISpecDirs(old, next *config.Config) {
	if r.cdi != nil && !slices.Equal(old.CDI.SpecDirs, next.CDI.SpecDirs) {
		r.cdi.SetDirs(next.CDI.SpecDirs)
	}
}
