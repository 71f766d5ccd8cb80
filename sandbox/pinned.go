package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/nspin"
	"github.com/cricket-cri/cricket/internal/steps"
)

// pinnedController holds a sandbox's namespaces without a process: cricketd
// creates the pod's UTS and IPC namespaces on a throw-away thread, sets the
// hostname and sysctls there (a pause container's runc would) and
// bind-mounts them under the sandbox's directory, as it does for the
// network namespace. Containers join the pins. What a pause container's
// creation also did, spawning the pod's shim, is done ahead of the first
// container (startShim), so that StartContainer costs what it does with a
// pause container.
//
// A pod gets a pause container anyway when something needs a process: a
// PID namespace shared by its containers (the pause is their init) or a
// user namespace (see usePinned).
type pinnedController struct{ m *Manager }

// usePinned reports whether a sandbox can do without a pause process.
func usePinned(sb *Sandbox) bool {
	return sb.PIDMode() != runtime.NamespaceMode_POD && sb.UserNS() == nil
}

// pinned lists the namespaces a pinned sandbox creates: the UTS namespace
// goes with the network one (a host-network pod keeps the node's
// hostname, as kubelet expects), the IPC namespace unless it is the host's.
func pinned(sb *Sandbox) []specs.LinuxNamespaceType {
	var ns []specs.LinuxNamespaceType
	if !sb.HostNetwork() {
		ns = append(ns, specs.UTSNamespace)
	}
	if !sb.HostIPC() {
		ns = append(ns, specs.IPCNamespace)
	}
	return ns
}

func (p *pinnedController) Create(ctx context.Context, sb *Sandbox, _ *image.Image) (uint32, error) {
	t := steps.Start("pin-create")
	defer t.Done(p.m.opts.Log, "sandbox", sb.ID)
	if err := pinNamespaces(sb); err != nil {
		return 0, fmt.Errorf("sandbox %s: %w", sb.ID, err)
	}
	t.Step("pin")
	addr, err := p.m.startShim(ctx, sb)
	if err != nil {
		if ctx.Err() != nil {
			return 0, err
		}
		// The shim ahead only saves the first container its spawn; without
		// it containerd spawns one then, as for any runtime. A shim whose
		// start protocol differs (containerd 2.3's shims want bootstrap
		// parameters on stdin) fails here; anything it left is killed.
		p.m.opts.Log.Warn("could not start the pod's shim ahead; containerd will start one with its first container",
			"sandbox", sb.ID, "error", err)
		p.m.killSandboxShims(sb.ID)
		addr = ""
	}
	t.Step("shim")
	sb.ShimAddress = addr // before the sandbox is published
	return 0, nil
}

// Start: the namespaces are live once pinned.
func (p *pinnedController) Start(context.Context, *Sandbox) error { return nil }

// Stop lets go of the namespaces: containers that still run keep theirs
// until they exit, none can join them any more.
func (p *pinnedController) Stop(_ context.Context, sb *Sandbox) error { return unpinNamespaces(sb) }

// Release asks the shim started ahead of the first container to exit. A
// shim that still hosts a container stays (containerd shuts it down after
// the container's task is deleted).
func (p *pinnedController) Release(ctx context.Context, sb *Sandbox) error {
	p.m.shutdownShim(ctx, sb, false)
	return nil
}

// Delete removes the pins and the shim; both are gone after a successful
// Delete, which RemovePodSandbox (and the undo of a failed creation) runs
// when the pod has no container left. A shim that was not seen to go (one
// whose start failed half way and was never recorded, or that does not
// answer) is killed.
func (p *pinnedController) Delete(ctx context.Context, sb *Sandbox) error {
	if !p.m.shutdownShim(ctx, sb, true) {
		p.m.killSandboxShims(sb.ID)
	}
	return unpinNamespaces(sb)
}

// Running reports whether the namespaces are still pinned: they are not
// after a stop, and not after a reboot (the state dir is volatile).
func (p *pinnedController) Running(_ context.Context, sb *Sandbox) (bool, error) {
	if _, err := os.Stat(sb.Dir); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	for _, t := range pinned(sb) {
		if !nspin.Pinned(sb.pinPath(t)) {
			return false, nil
		}
	}
	return true, nil
}

func (p *pinnedController) Spec(context.Context, *Sandbox) (json.RawMessage, error) {
	return nil, fmt.Errorf("a pinned sandbox runs no process: %w", errdefs.ErrNotFound)
}

// pinNamespaces creates the sandbox's namespaces (see pinned), applies its
// hostname and sysctls in them and pins them at sb.pinPath. On failure
// nothing stays pinned.
func pinNamespaces(sb *Sandbox) error {
	var pins []nspin.Pin
	for _, t := range pinned(sb) {
		pins = append(pins, nspin.Pin{Kind: nspin.Kind(t), Path: sb.pinPath(t)})
	}
	if len(pins) > 0 {
		if err := os.MkdirAll(filepath.Join(sb.Dir, "ns"), 0o700); err != nil {
			return err
		}
	}
	sysctls := map[specs.LinuxNamespaceType]map[string]string{}
	for k, v := range sb.Config.GetLinux().GetSysctls() {
		t := sysctlNamespace(k) // validated: IPC or network
		if sysctls[t] == nil {
			sysctls[t] = map[string]string{}
		}
		sysctls[t][k] = v
	}
	return nspin.New(pins, func() error {
		if h := sb.Config.GetHostname(); h != "" && !sb.HostNetwork() {
			if err := unix.Sethostname([]byte(h)); err != nil {
				return fmt.Errorf("set hostname %q: %w", h, err)
			}
		}
		// /proc/sys shows the namespaces of the thread that opens it.
		if err := writeSysctls(sysctls[specs.IPCNamespace]); err != nil {
			return err
		}
		if len(sysctls[specs.NetworkNamespace]) == 0 {
			return nil
		}
		if err := nspin.Enter(nspin.Net, sb.NetNSPath); err != nil {
			return err
		}
		return writeSysctls(sysctls[specs.NetworkNamespace])
	})
}

// writeSysctls sets sysctls (validated: see validateSysctl) through
// /proc/sys.
func writeSysctls(kv map[string]string) error {
	for k, v := range kv {
		if err := os.WriteFile(filepath.Join("/proc/sys", sysctlPath(k)), []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}

// unpinNamespaces unmounts and removes a sandbox's pins; safe to repeat.
func unpinNamespaces(sb *Sandbox) error {
	return errors.Join(nspin.Remove(sb.pinPath(specs.UTSNamespace)), nspin.Remove(sb.pinPath(specs.IPCNamespace)))
}
