package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/config"
)

// Features are what a runtime handler can do, as advertised in Status.
type Features struct {
	// RecursiveReadOnlyMounts: the OCI runtime knows the "rro" mount
	// option and the kernel has mount_setattr (5.12+).
	RecursiveReadOnlyMounts bool
	// UserNamespaces: kubelet may run hostUsers: false pods here. Such
	// pods need more than a user namespace: kubelet asks for every mount
	// of them, its own /etc/hosts and termination log included, to be
	// idmapped. cricket makes the idmapped mounts itself (see
	// container/idmap.go), so it needs the kernel's mount API
	// (mount_setattr, 5.12), not the OCI runtime's support.
	UserNamespaces bool
}

var features struct {
	mu sync.Mutex
	m  map[string]Features // by OCI runtime binary
}

// Features probes (once per OCI runtime binary) what a resolved runtime
// supports: a handler's (Handlers) or a pod's own (Sandbox.Runtime).
func (m *Manager) Features(rt Runtime) Features {
	bin := rt.Options.GetBinaryName()
	if rt.Type == config.CricketRuntimeType {
		// cricket's shim runs no OCI runtime binary: it is built on
		// libcontainer, which knows "rro" since runc 1.2.
		bin = "(libcontainer)"
	} else if bin == "" {
		bin = "runc"
	}
	features.mu.Lock()
	defer features.mu.Unlock()
	if f, ok := features.m[bin]; ok {
		return f
	}
	f := Features{
		RecursiveReadOnlyMounts: kernelHasMountSetattr() && (rt.Type == config.CricketRuntimeType || runtimeMountOption(bin, "rro")),
		UserNamespaces:          kernelHasUserNS() && kernelHasMountSetattr(),
	}
	if features.m == nil {
		features.m = map[string]Features{}
	}
	features.m[bin] = f
	return f
}

// runtimeMountOption asks the OCI runtime ("runc features") whether it
// knows a mount option.
func runtimeMountOption(bin, option string) bool {
	out, err := exec.Command(bin, "features").Output()
	if err != nil {
		return false
	}
	var f struct {
		MountOptions []string `json:"mountOptions"`
	}
	return json.Unmarshal(out, &f) == nil && slices.Contains(f.MountOptions, option)
}

// kernelHasMountSetattr tells ENOSYS from any other error of a call that
// cannot succeed.
func kernelHasMountSetattr() bool {
	err := unix.MountSetattr(-1, "", 0, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
}

// kernelHasUserNS reports whether the kernel offers user namespaces.
func kernelHasUserNS() bool {
	_, err := os.Stat("/proc/self/ns/user")
	return err == nil
}
