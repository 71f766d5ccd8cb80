package config

import (
	"maps"
	"slices"
	"strings"
)

// ReloadableKeys are the keys a reload (SIGHUP) applies to a running
// cricketd; a key names itself and everything below it ("runtimes" covers
// every handler and its settings). Every other key is read once at
// start-up: the socket, the directories, containerd, the network, the
// sandbox mode and the rest shape state that exists while cricketd runs.
//
// What each reloadable key affects, and when:
//   - log_level: the next line logged (cricketd's and containerd's client
//     libraries').
//   - sandbox_image: the pause image of pods created from then on, and
//     which image ImageStatus and ListImages report pinned. Running pods
//     keep the pause container they have.
//   - registry.config_path: the hosts directory of pulls that start from
//     then on; a pull under way finishes with the directory it started with.
//   - cdi.spec_dirs: the CDI devices containers created from then on can
//     ask for (the directories' specs are loaded at the reload); running
//     containers keep what was injected. cdi.enabled cannot change.
//   - default_runtime, runtimes: the handlers RunPodSandbox accepts and
//     Status lists. A pod keeps the runtime it was created with (recorded
//     in its checkpoint): its containers go on running, and new ones are
//     created in it, on that runtime even when its handler was changed or
//     removed; only new pods are refused a removed handler.
var ReloadableKeys = []string{
	"log_level",
	"sandbox_image",
	"registry.config_path",
	"cdi.spec_dirs",
	"default_runtime",
	"runtimes",
}

// Reloadable reports whether key (as Diff names it) is applied by a reload.
func Reloadable(key string) bool {
	for _, k := range ReloadableKeys {
		if key == k || strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// MergeReloadable returns a copy of running with every reloadable key
// taken from loaded, and every other key left as running has it. Neither
// argument is modified; the result shares no map with loaded.
func MergeReloadable(running, loaded *Config) *Config {
	next := *running
	next.LogLevel = loaded.LogLevel
	next.SandboxImage = loaded.SandboxImage
	next.Registry.ConfigPath = loaded.Registry.ConfigPath
	next.CDI.SpecDirs = slices.Clone(loaded.CDI.SpecDirs)
	next.DefaultRuntime = loaded.DefaultRuntime
	next.Runtimes = maps.Clone(loaded.Runtimes)
	return &next
}

// Reload is what a reload does to a running configuration.
type Reload struct {
	// Next is the configuration to run with from now on.
	Next *Config
	// NextBase is what Next's file and flags said: Base for the next
	// reload.
	NextBase *Config
	// Applied are the reloadable keys that change.
	Applied []Change
	// Refused are the keys that differ from the file but cannot change
	// while cricketd runs; each keeps its running value (Old), not the
	// file's (New).
	Refused []Change
}

// PlanReload computes a reload. running is the configuration in use;
// base is what the file and flags said for it, before the values cricketd
// substitutes at start-up (a managed containerd's socket address), so that
// those are not mistaken for changes; loaded is the file read again, with
// the flags applied and validated.
func PlanReload(running, base, loaded *Config) Reload {
	next := MergeReloadable(running, loaded)
	nextBase := MergeReloadable(base, loaded)
	return Reload{
		Next:     next,
		NextBase: nextBase,
		Applied:  Diff(running, next),
		Refused:  Diff(nextBase, loaded),
	}
}
