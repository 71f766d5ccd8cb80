package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/cricket-cri/cricket/config"
)

// lockedBuffer is a log destination safe for the concurrent test below.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestReloader returns a reloader over the defaults whose file is
// whatever *file holds (or the error *fail).
func newTestReloader(file **config.Config, fail *error) (*reloader, *lockedBuffer) {
	out := &lockedBuffer{}
	live := config.NewLive(config.Default())
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: liveLevel{live}}))
	return &reloader{
		live: live,
		base: live.Get(),
		load: func() (*config.Config, error) {
			if *fail != nil {
				return nil, *fail
			}
			c := *file
			return c, c.Validate()
		},
		path: "/etc/cricket/config.toml",
		log:  log,
	}, out
}

func TestReloadAppliesAndSaysWhat(t *testing.T) {
	file, fail := config.Default(), error(nil)
	r, out := newTestReloader(&file, &fail)
	file.LogLevel = "debug"
	file.SandboxImage = "example.test/pause:2"
	file.Runtimes["kata"] = config.Runtime{Type: "io.containerd.kata.v2"}
	r.reload(context.Background())
	got := r.live.Get()
	if got.LogLevel != "debug" || got.SandboxImage != "example.test/pause:2" || got.Runtimes["kata"].Type != "io.containerd.kata.v2" {
		t.Fatalf("not applied: %+v", got)
	}
	for _, want := range []string{
		"config reloaded",
		"log_level: info → debug",
		"sandbox_image: registry.k8s.io/pause:3.10 → example.test/pause:2",
		"runtimes.kata: (none) → {type=io.containerd.kata.v2}",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("want one line per reload, got %d:\n%s", n, out)
	}

	// The same file again: nothing changed, and the line says so.
	r.reload(context.Background())
	if !strings.Contains(out.String(), "nothing changed") {
		t.Errorf("second reload of the same file:\n%s", out)
	}
}

func TestReloadOfABadFileChangesNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*config.Config)
		fail error
		want string
	}{
		"unreadable":         {fail: errors.New("config /etc/cricket/config.toml: line 3: unknown key \"nope\""), want: "line 3"},
		"invalid value":      {edit: func(c *config.Config) { c.LogLevel = "loud" }, want: "log_level \\\"loud\\\""},
		"bad sandbox image":  {edit: func(c *config.Config) { c.SandboxImage = "Not A/Reference" }, want: "sandbox_image"},
		"no default handler": {edit: func(c *config.Config) { c.DefaultRuntime = "gone" }, want: "default_runtime"},
	} {
		t.Run(name, func(t *testing.T) {
			file, fail := config.Default(), tc.fail
			r, out := newTestReloader(&file, &fail)
			// Good and bad keys in one file: none is applied.
			file.Registry.ConfigPath = "/elsewhere"
			if tc.edit != nil {
				tc.edit(file)
			}
			before := r.live.Get()
			r.reload(context.Background())
			if r.live.Get() != before {
				t.Errorf("running config replaced by a bad file: %+v", r.live.Get())
			}
			if !strings.Contains(out.String(), "config reload failed; the running configuration is unchanged") ||
				!strings.Contains(out.String(), tc.want) {
				t.Errorf("log does not name the failure (%q):\n%s", tc.want, out)
			}
		})
	}
}

func TestReloadRefusesImmutableKeysByName(t *testing.T) {
	file, fail := config.Default(), error(nil)
	r, out := newTestReloader(&file, &fail)
	file.Root = "/elsewhere"
	file.Network.Mode = config.NetworkModeBridge
	file.LogLevel = "debug"
	r.reload(context.Background())
	got := r.live.Get()
	if got.Root != config.DefaultRoot || got.Network.Mode != config.NetworkModeCNI || got.LogLevel != "debug" {
		t.Fatalf("running config: root %s, network.mode %s, log_level %s", got.Root, got.Network.Mode, got.LogLevel)
	}
	log := out.String()
	for _, key := range []string{"key=root", "key=network.mode"} {
		if !strings.Contains(log, "level=WARN") || !strings.Contains(log, key) {
			t.Errorf("no warning naming %s:\n%s", key, log)
		}
	}
	if !strings.Contains(log, "changed=\"log_level: info → debug\"") {
		t.Errorf("reload line does not name the applied key only:\n%s", log)
	}
}

func TestReloadToAQuieterLevelStillConfirms(t *testing.T) {
	file, fail := config.Default(), error(nil)
	r, out := newTestReloader(&file, &fail)
	file.LogLevel = "error"
	r.reload(context.Background())
	if !strings.Contains(out.String(), "log_level: info → error") {
		t.Fatalf("no reload line:\n%s", out)
	}
	// And from a quiet level to a louder one.
	file2 := config.Default()
	file = file2
	r.reload(context.Background())
	if !strings.Contains(out.String(), "log_level: error → info") {
		t.Fatalf("no reload line after leaving error level:\n%s", out)
	}
	r.log.Debug("not shown at info")
	if strings.Contains(out.String(), "not shown") {
		t.Error("debug line shown at info level")
	}
}

// Readers of the running config during reloads see whole configs (run
// with -race).
func TestReloadUnderConcurrentReaders(t *testing.T) {
	file, fail := config.Default(), error(nil)
	r, _ := newTestReloader(&file, &fail)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c := r.live.Get()
				if _, ok := c.Runtimes[c.DefaultRuntime]; !ok {
					t.Error("a reader saw a default runtime its config lacks")
					return
				}
				r.log.Debug("reading", "image", c.SandboxImage)
			}
		}()
	}
	// Each file is handed to the reloading goroutine, which installs it
	// and reloads, as an editor's save and a SIGHUP would.
	files := make(chan *config.Config)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range files {
			file = f
			r.reload(ctx)
		}
	}()
	for i := range 50 {
		next := config.Default()
		next.LogLevel = []string{"debug", "info"}[i%2]
		next.DefaultRuntime = []string{config.RuncRuntimeHandler, config.CricketRuntimeHandler}[i%2]
		next.Runtimes = map[string]config.Runtime{next.DefaultRuntime: {Type: config.RuncRuntimeType}}
		files <- next
	}
	close(files)
	<-done
	cancel()
	wg.Wait()
	if got := r.live.Get().DefaultRuntime; got != config.CricketRuntimeHandler {
		t.Errorf("after the last reload default_runtime = %s", got)
	}
}
