package spec

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"syscall"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxSeccompProfileBytes bounds a localhost seccomp profile: real ones
// are tens of kilobytes (the default profile is about 20 KiB), and the
// profile is read whole into every spec that uses it.
const maxSeccompProfileBytes = 1 << 20

// ContainerSeccomp is the seccomp profile a container's security context
// asks for: the seccomp field, else the deprecated seccomp_profile_path;
// nil when neither is set.
func ContainerSeccomp(sc *runtime.LinuxContainerSecurityContext) (*runtime.SecurityProfile, error) {
	if p := sc.GetSeccomp(); p != nil || sc.GetSeccompProfilePath() == "" {
		return p, nil
	}
	return legacySeccomp(sc.GetSeccompProfilePath())
}

// ValidateSeccomp checks a seccomp profile before anything is created, so
// that a profile spec generation cannot load is refused at the call that
// names it: a Localhost profile must be an absolute path to a regular file
// holding a JSON seccomp profile. A privileged pod or container runs
// unconfined and never reads its profile.
func ValidateSeccomp(field string, p *runtime.SecurityProfile, privileged bool) error {
	if privileged || p.GetProfileType() != runtime.SecurityProfile_Localhost {
		return nil
	}
	lp := p.GetLocalhostRef()
	bad := func(why string, args ...any) error {
		return fmt.Errorf("%s localhost profile %q: %s: %w", field, lp, fmt.Sprintf(why, args...), errdefs.ErrInvalidArgument)
	}
	if lp == "" || !path.IsAbs(lp) {
		return bad("must be an absolute path")
	}
	// O_NONBLOCK: a FIFO put where the profile should be must not hang
	// the call; it is refused below like any other non-regular file.
	f, err := os.OpenFile(lp, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return bad("%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return bad("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return bad("not a regular file")
	}
	if fi.Size() > maxSeccompProfileBytes {
		return bad("%d bytes, more than the %d a profile may have", fi.Size(), maxSeccompProfileBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSeccompProfileBytes+1))
	if err != nil {
		return bad("%v", err)
	}
	if err := json.Unmarshal(b, &specs.LinuxSeccomp{}); err != nil {
		return bad("not a JSON seccomp profile: %v", err)
	}
	return nil
}
