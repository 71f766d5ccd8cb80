package spec

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	"tags.cncf.io/container-device-interface/pkg/cdi"
)

// CDI is the node's Container Device Interface registry: the spec files
// of the configured directories, loaded by the CDI library's cache, which
// also injects a device's edits (device nodes with their devices cgroup
// rules, env, mounts, hooks) into a container's spec.
//
// The cache refreshes only when asked. The library's auto-refresh
// watches the directories with fsnotify from a goroutine of its own: a
// spec written just before CreateContainer could still be unseen when
// the container asks for its device (the event not yet handled), and
// every write event rescans every spec file. Instead, a container that
// asks for devices compares the directories with the state last loaded
// (cdiDirState: a directory read and a stat per spec file) and reloads
// only when they differ: what was on disk before the call is what the
// call sees, containers without CDI devices pay nothing, and there is no
// watcher to stop. A nil *CDI is a node with CDI disabled.
type CDI struct {
	dirs  []string
	cache *cdi.Cache
	log   *slog.Logger

	mu       sync.Mutex // serialises reloads
	loaded   cdiDirState
	loadedAt time.Time
	// reported is the spec errors last logged, so that a reload logs
	// them only when they change.
	reported string
}

// NewCDI loads the CDI specs of dirs (in increasing priority). Spec
// files that do not load are logged and skipped: their devices are
// unknown, the others are usable.
func NewCDI(dirs []string, log *slog.Logger) (*CDI, error) {
	r := &CDI{dirs: dirs, log: log}
	// The state before the load: a change during it shows as a
	// difference at the next request.
	r.loadedAt, r.loaded = time.Now(), readCDIDirState(dirs)
	cache, err := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	if err != nil {
		return nil, fmt.Errorf("CDI spec cache for %s: %w", strings.Join(dirs, ", "), err)
	}
	r.cache = cache
	r.report()
	log.Info("CDI specs loaded", "dirs", dirs, "devices", len(cache.ListDevices()))
	return r, nil
}

// SetDirs switches the registry to other spec directories (a config
// reload) and loads their specs at once.
func (r *CDI) SetDirs(dirs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Equal(dirs, r.dirs) {
		return
	}
	now, st := time.Now(), readCDIDirState(dirs)
	// Configure loads the new directories' specs (no watcher: see CDI).
	if err := r.cache.Configure(cdi.WithSpecDirs(dirs...)); err != nil {
		r.log.Warn("CDI spec directories", "dirs", dirs, "error", err)
	}
	r.dirs, r.loaded, r.loadedAt = slices.Clone(dirs), st, now
	r.report()
	r.log.Info("CDI spec directories changed", "dirs", dirs, "devices", len(r.cache.ListDevices()))
}

// refreshIfChanged reloads the specs if the directories differ from what
// was loaded, or were read too close to a change to tell (see
// cdiTimestampSlack).
func (r *CDI) refreshIfChanged() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now, st := time.Now(), readCDIDirState(r.dirs)
	if st.equal(r.loaded) && r.loaded.settledAt(r.loadedAt) {
		return
	}
	// Errors are per spec file and kept by the cache; report logs them.
	_ = r.cache.Refresh()
	r.loaded, r.loadedAt = st, now
	r.report()
	r.log.Debug("CDI specs reloaded", "devices", len(r.cache.ListDevices()))
}

// report logs the spec files that did not load, when that changes.
func (r *CDI) report() {
	errs := r.specErrors()
	if errs == r.reported {
		return
	}
	r.reported = errs
	if errs != "" {
		r.log.Warn("CDI spec files with errors; their devices are unknown", "errors", errs)
	}
}

// specErrors lists the spec files the last load could not use, by path.
func (r *CDI) specErrors() string {
	byPath := r.cache.GetErrors()
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var b strings.Builder
	for _, p := range paths {
		for _, err := range byPath[p] {
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %v", p, err)
		}
	}
	return b.String()
}

// CDIDevices are the CDI devices one container asks for, found in the
// loaded specs; ContainerInput.CDI injects them.
type CDIDevices struct {
	Names []string
	cache *cdi.Cache
}

// Resolve returns the CDI devices cfg asks for (nil when it asks for
// none), checked before anything is created: a malformed or unknown name
// is InvalidArgument naming the device; a device whose edits cannot be
// applied (its host device node is missing, say) is FailedPrecondition;
// so is any device on a node with CDI disabled (a nil r), which must not
// run the container without it.
func (r *CDI) Resolve(cfg *runtime.ContainerConfig) (*CDIDevices, error) {
	names, err := CDIDeviceNames(cfg)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("CDI device %q: CDI is disabled on this node (cdi.enabled = false): %w", names[0], errdefs.ErrFailedPrecondition)
	}
	r.refreshIfChanged()
	var unknown []string
	for _, n := range names {
		if r.cache.GetDevice(n) == nil {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, r.unknown(unknown)
	}
	d := &CDIDevices{Names: names, cache: r.cache}
	// A trial on a scratch spec fails where the container's spec would
	// (invalid edits, host device nodes that are not there), before the
	// snapshot and the containerd container exist.
	if err := d.inject(&specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}); err != nil {
		return nil, err
	}
	return d, nil
}

// unknown is the error for devices no loaded spec defines.
func (r *CDI) unknown(names []string) error {
	what := fmt.Sprintf("CDI device %q is", names[0])
	if len(names) > 1 {
		what = fmt.Sprintf("CDI devices %q are", names)
	}
	msg := fmt.Sprintf("%s not defined by any spec in %s", what, strings.Join(r.dirs, ", "))
	if errs := r.specErrors(); errs != "" {
		msg += " (spec files that did not load: " + shorten(errs, 1024) + ")"
	}
	return fmt.Errorf("%s: %w", msg, errdefs.ErrInvalidArgument)
}

// inject applies the devices' edits (and those of their specs, once per
// spec) to s.
func (d *CDIDevices) inject(s *specs.Spec) error {
	unresolved, err := d.cache.InjectDevices(s, d.Names...)
	switch {
	case len(unresolved) > 0:
		// The spec went away since Resolve.
		return fmt.Errorf("CDI devices %q are no longer defined by any spec: %w", unresolved, errdefs.ErrInvalidArgument)
	case err != nil:
		return fmt.Errorf("CDI devices %q: %v: %w", d.Names, err, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// withCDI injects the devices last, as containerd and CRI-O do: a
// device's env, device nodes and mounts win over the config's, and the
// device nodes get the process's user when their spec names none.
func withCDI(d *CDIDevices) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		return d.inject(s)
	}
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
