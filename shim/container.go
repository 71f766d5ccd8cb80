package shim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/containerd/api/types"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/anypb"

	_ "github.com/opencontainers/cgroups/devices" // the device rules of libcontainer's cgroup managers

	"github.com/cricket-cri/cricket/internal/shimproc"
)

// container is one task: a libcontainer container, its init process and
// its exec processes.
type container struct {
	id     string
	bundle string
	spec   *specs.Spec
	lc     *libcontainer.Container
	init   *process

	mu    sync.Mutex
	execs map[string]*process
	// rootfsMounted: the shim mounted containerd's rootfs mounts at
	// bundle/rootfs and unmounts them at delete.
	rootfsMounted bool
}

// stateRoot is where libcontainer keeps the state of a namespace's
// containers (runc's is /run/containerd/runc/<namespace>).
func stateRoot(namespace string) string {
	return filepath.Join(shimproc.CricketStateRoot, namespace)
}

// readSpec reads a bundle's OCI spec.
func readSpec(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("bundle %s: config.json: %w", bundle, err)
	}
	return &s, nil
}

// mountRootfs mounts containerd's rootfs mounts (the snapshot) at
// bundle/rootfs; no mounts means the bundle brings its rootfs.
func mountRootfs(bundle string, ms []*types.Mount) (bool, error) {
	if len(ms) == 0 {
		return false, nil
	}
	target := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(target, 0o711); err != nil {
		return false, err
	}
	var mounts []mount.Mount
	for _, m := range ms {
		mounts = append(mounts, mount.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	if err := mount.All(mounts, target); err != nil {
		return false, fmt.Errorf("mount rootfs of %s: %w", bundle, err)
	}
	return true, nil
}

func unmountRootfs(bundle string) error {
	return mount.UnmountRecursive(filepath.Join(bundle, "rootfs"), unix.MNT_DETACH)
}

// libcontainerConfig converts the OCI spec for libcontainer, as runc does.
func libcontainerConfig(id, bundle string, s *specs.Spec, systemd bool) (*configs.Config, error) {
	if s.Root == nil {
		return nil, fmt.Errorf("spec has no root")
	}
	if !filepath.IsAbs(s.Root.Path) {
		s.Root.Path = filepath.Join(bundle, s.Root.Path)
	}
	for i, m := range s.Mounts {
		// Relative sources are relative to the bundle (runc's cwd).
		if m.Source != "" && !filepath.IsAbs(m.Source) && (m.Type == "bind" || hasBindOption(m.Options)) {
			s.Mounts[i].Source = filepath.Join(bundle, m.Source)
		}
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:       id,
		UseSystemdCgroup: systemd,
		Spec:             s,
	})
	if err != nil {
		return nil, err
	}
	cfg.Labels = append(cfg.Labels, "bundle="+bundle)
	return cfg, nil
}

func hasBindOption(opts []string) bool {
	for _, o := range opts {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// systemdCgroup reads the runc options containerd passes (cricket's
// runtime handlers use runc's options type; SystemdCgroup is the one the
// shim uses).
func systemdCgroup(opts *anypb.Any) bool {
	if opts == nil || opts.GetTypeUrl() == "" {
		return false
	}
	v, err := typeurl.UnmarshalAny(opts)
	if err != nil {
		return false
	}
	o, ok := v.(*runcoptions.Options)
	return ok && o.SystemdCgroup
}

// libcontainerProcess converts an OCI process, as runc does.
func libcontainerProcess(p *specs.Process, init bool) (*libcontainer.Process, error) {
	lp := &libcontainer.Process{
		Args:            p.Args,
		Env:             p.Env,
		UID:             int(p.User.UID),
		GID:             int(p.User.GID),
		Cwd:             p.Cwd,
		Label:           p.SelinuxLabel,
		NoNewPrivileges: &p.NoNewPrivileges,
		AppArmorProfile: p.ApparmorProfile,
		Scheduler:       p.Scheduler,
		IOPriority:      p.IOPriority,
		Init:            init,
	}
	if p.ConsoleSize != nil {
		lp.ConsoleWidth, lp.ConsoleHeight = uint16(p.ConsoleSize.Width), uint16(p.ConsoleSize.Height)
	}
	if c := p.Capabilities; c != nil {
		lp.Capabilities = &configs.Capabilities{Bounding: c.Bounding, Effective: c.Effective, Inheritable: c.Inheritable, Permitted: c.Permitted, Ambient: c.Ambient}
	}
	for _, g := range p.User.AdditionalGids {
		lp.AdditionalGroups = append(lp.AdditionalGroups, int(g))
	}
	for _, rl := range p.Rlimits {
		t, ok := rlimits[strings.ToUpper(rl.Type)]
		if !ok {
			return nil, fmt.Errorf("unknown rlimit %q", rl.Type)
		}
		lp.Rlimits = append(lp.Rlimits, configs.Rlimit{Type: t, Hard: rl.Hard, Soft: rl.Soft})
	}
	aff, err := configs.ConvertCPUAffinity(p.ExecCPUAffinity)
	if err != nil {
		return nil, err
	}
	lp.CPUAffinity = aff
	return lp, nil
}

var rlimits = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}

// attachStdio gives a libcontainer process its streams: a terminal, or
// pipes the shim copies.
func attachStdio(p *process, lp *libcontainer.Process) error {
	if p.stdio.terminal {
		c, err := newConsole(p.stdio)
		if err != nil {
			return err
		}
		p.tty = c
		lp.ConsoleSocket = c.child
		return nil
	}
	pio, err := newPipeIO(p.stdio)
	if err != nil {
		return err
	}
	p.io = pio
	if pio.childIn != nil {
		lp.Stdin = pio.childIn
	}
	if pio.childOut != nil {
		lp.Stdout = pio.childOut
	}
	if pio.childErr != nil {
		lp.Stderr = pio.childErr
	}
	return nil
}

// stdioStarted finishes the streams once libcontainer started the process.
func stdioStarted(p *process) error {
	if p.tty != nil {
		return p.tty.started()
	}
	if p.io != nil {
		p.io.started()
	}
	return nil
}

// exec returns an exec process of the container.
func (c *container) exec(id string) (*process, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.execs[id]
	return p, ok
}

// process returns the init (execID "") or an exec process.
func (c *container) process(execID string) (*process, error) {
	if execID == "" {
		return c.init, nil
	}
	if p, ok := c.exec(execID); ok {
		return p, nil
	}
	return nil, fmt.Errorf("exec %q of container %s: %w", execID, c.id, errdefs.ErrNotFound)
}
