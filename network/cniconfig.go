// Package network gives pods their network: network namespaces, CNI (and
// later the built-in bridge backend), and the readiness kubelet sees in
// Status.
package network

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	gocni "github.com/containerd/go-cni"
	"github.com/fsnotify/fsnotify"
)

// CNIOptions configure the CNI backend.
type CNIOptions struct {
	ConfDir string
	BinDirs []string
	// Timeout bounds one ADD or DEL.
	Timeout time.Duration
	Log     *slog.Logger
}

// CNIConfig holds the currently loaded CNI network configuration and keeps
// it in step with the configuration directory: a file written there is
// picked up without a restart, so NetworkReady flips by itself.
type CNIConfig struct {
	opts CNIOptions

	mu      sync.RWMutex
	cni     gocni.CNI // nil until a config loads
	loadErr error

	stop chan struct{}
	done chan struct{}
}

// NewCNIConfig loads the configuration directory (creating it if missing)
// and starts watching it.
func NewCNIConfig(opts CNIOptions) (*CNIConfig, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if err := os.MkdirAll(opts.ConfDir, 0o755); err != nil {
		return nil, fmt.Errorf("cni: create conf dir: %w", err)
	}
	c := &CNIConfig{opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("cni: watch %s: %w", opts.ConfDir, err)
	}
	if err := w.Add(opts.ConfDir); err != nil {
		w.Close()
		return nil, fmt.Errorf("cni: watch %s: %w", opts.ConfDir, err)
	}
	c.reload()
	go c.watch(w)
	return c, nil
}

// Ready returns nil when a network configuration is loaded, else why not.
func (c *CNIConfig) Ready() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.loadErr
}

// Current returns the loaded configuration, or an error saying why none is.
func (c *CNIConfig) Current() (gocni.CNI, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.loadErr != nil {
		return nil, c.loadErr
	}
	return c.cni, nil
}

// Close stops watching the directory.
func (c *CNIConfig) Close() {
	close(c.stop)
	<-c.done
}

func (c *CNIConfig) reload() {
	cni, err := c.load()
	c.mu.Lock()
	changed := (err == nil) != (c.loadErr == nil)
	if err == nil {
		c.cni = cni
	}
	c.loadErr = err
	c.mu.Unlock()
	switch {
	case err == nil && changed:
		c.opts.Log.Info("cni network config loaded", "dir", c.opts.ConfDir)
	case err != nil && changed:
		c.opts.Log.Warn("cni network config not ready", "reason", err)
	}
}

func (c *CNIConfig) load() (gocni.CNI, error) {
	cni, err := gocni.New(
		// One pod network; cricket brings up loopback itself (netlink),
		// which saves a plugin exec per pod.
		gocni.WithMinNetworkCount(1),
		gocni.WithPluginConfDir(c.opts.ConfDir),
		gocni.WithPluginDir(c.opts.BinDirs),
		gocni.WithPluginMaxConfNum(1),
	)
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	// go-cni's errors name the directory and the cause.
	if err := cni.Load(gocni.WithDefaultConf); err != nil {
		return nil, err
	}
	if err := cni.Status(); err != nil {
		return nil, err
	}
	return cni, nil
}

// watch reloads after changes settle (editors and installers write files in
// several steps).
func (c *CNIConfig) watch(w *fsnotify.Watcher) {
	defer close(c.done)
	defer w.Close()
	const settle = 100 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-c.stop:
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Remove|fsnotify.Rename) != 0 {
				timer.Reset(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			c.opts.Log.Warn("cni conf dir watch error", "error", err)
		case <-timer.C:
			c.reload()
		}
	}
}
