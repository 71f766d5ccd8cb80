// Package version says which cricket this is.
package version

import "runtime/debug"

// Version is set at build time (-ldflags "-X .../internal/version.Version=...");
// otherwise it is derived from the module's VCS stamp.
var Version = ""

// String returns cricket's version.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return "0.1.0-dev+" + rev
		}
	}
	return "0.1.0-dev"
}
