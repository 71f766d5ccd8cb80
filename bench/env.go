package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/containerdproc"
	"github.com/cricket-cri/cricket/internal/mounts"
	"github.com/cricket-cri/cricket/internal/testimages"
)

// EnvOptions configure a self-hosted benchmark environment.
type EnvOptions struct {
	// Cricketd is the cricketd binary to run.
	Cricketd string
	// Network is cricket's network.mode ("cni" or "bridge").
	Network string
	// SandboxMode is cricket's sandbox_mode ("pause" or "pinned").
	SandboxMode string
	// Compare also starts a containerd with its built-in CRI plugin.
	Compare bool
	// Runtime is cricket's default_runtime ("cricket" or "runc"; empty:
	// cricket's default). cricket's shim binary is taken from next to
	// Cricketd: cricket's containerd finds it first in its PATH.
	Runtime string
	// Pull also pushes the pull benchmark's images (see PullImages),
	// those of the scenarios PullOnly names (all if empty).
	Pull     bool
	PullOnly string
	// MaxConcurrentDownloads, if set, is cricket's max_concurrent_downloads.
	MaxConcurrentDownloads int
	Log                    *slog.Logger
}

// Env is everything a self-hosted run starts: a registry with the images,
// cricketd on its own containerd and, to compare, a second containerd
// serving its own CRI plugin. Both get the same CNI plugin chain (bridge,
// host-local, portmap) on bridges of their own.
type Env struct {
	Dir          string
	Image, Pause string
	// PullScenarios are set with EnvOptions.Pull.
	PullScenarios            []PullScenario
	CricketAddr, CompareAddr string
	CricketPIDs, ComparePIDs []int
	// The containerds' addresses (their shims are measured).
	CricketContainerd, CompareContainerd string
	registry                             *httptest.Server
	ctrdA, ctrdB                         *containerdproc.Supervisor
	cricketd                             *exec.Cmd
	bridges                              []string
}

// SelfHost starts the environment.
func SelfHost(ctx context.Context, o EnvOptions) (_ *Env, retErr error) {
	dir, err := os.MkdirTemp("", "cribench-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o711)
	e := &Env{Dir: dir}
	defer func() {
		if retErr != nil {
			e.Close()
		}
	}()
	host, srv, err := testimages.ServeRegistry()
	if err != nil {
		return nil, err
	}
	e.registry = srv
	busybox, err := testimages.Build(testimages.Spec{})
	if err != nil {
		return nil, err
	}
	pause, err := testimages.Pause()
	if err != nil {
		return nil, err
	}
	e.Image, e.Pause = host+"/busybox:bench", host+"/pause:bench"
	if err := testimages.Push(e.Image, busybox); err != nil {
		return nil, err
	}
	if err := testimages.Push(e.Pause, pause); err != nil {
		return nil, err
	}
	if o.Pull {
		if e.PullScenarios, err = PullImages(host, o.PullOnly); err != nil {
			return nil, err
		}
	}

	// cricket: its containerd (CRI plugin off) and cricketd.
	netA := filepath.Join(dir, "net-cricket")
	if err := writeConflist(netA, "ckbench0", "10.248.0.0/24"); err != nil {
		return nil, err
	}
	e.bridges = append(e.bridges, "ckbench0")
	abs, err := filepath.Abs(o.Cricketd)
	if err != nil {
		return nil, err
	}
	os.Setenv("PATH", filepath.Dir(abs)+":"+os.Getenv("PATH"))
	if e.ctrdA, err = containerdproc.Start(ctx, containerdproc.Options{
		Layout: containerdproc.Layout{Root: filepath.Join(dir, "ctrd-cricket", "root"), State: filepath.Join(dir, "ctrd-cricket", "state")},
		Log:    o.Log,
	}); err != nil {
		return nil, err
	}
	// Debug logging carries cricket's step timings; it costs a little,
	// so only when the log is kept for reading.
	logLevel := "info"
	if os.Getenv("CRIBENCH_KEEP_LOG") != "" {
		logLevel = "debug"
	}
	cfg := fmt.Sprintf(`listen = %q
log_level = %q
root = %q
state = %q
sandbox_image = %q
sandbox_mode = %q
[containerd]
address = %q
namespace = "k8s.io"
[cni]
conf_dir = %q
`, "unix://"+filepath.Join(dir, "cricket.sock"), logLevel, filepath.Join(dir, "cricket-root"), filepath.Join(dir, "cricket-state"),
		e.Pause, cmp.Or(o.SandboxMode, "pause"), e.ctrdA.Address(), netA)
	if a := os.Getenv("CRIBENCH_PPROF"); a != "" {
		// e.g. 127.0.0.1:6060, then: go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=20
		cfg += fmt.Sprintf("[debug]\naddress = %q\n", a)
	}
	if o.Network != "" && o.Network != "cni" {
		cfg += fmt.Sprintf("[network]\nmode = %q\n", o.Network)
	}
	if o.MaxConcurrentDownloads > 0 {
		cfg = fmt.Sprintf("max_concurrent_downloads = %d\n", o.MaxConcurrentDownloads) + cfg
	}
	if o.Runtime != "" {
		// A top-level key: it must come before the tables above, so it
		// goes first.
		cfg = fmt.Sprintf("default_runtime = %q\n", o.Runtime) + cfg
	}
	if err := os.WriteFile(filepath.Join(dir, "cricket.toml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "cricketd.log"))
	if err != nil {
		return nil, err
	}
	e.cricketd = exec.Command(o.Cricketd, "--config", filepath.Join(dir, "cricket.toml"))
	e.cricketd.Stdout, e.cricketd.Stderr = logf, logf
	e.cricketd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := e.cricketd.Start(); err != nil {
		return nil, err
	}
	e.CricketAddr = "unix://" + filepath.Join(dir, "cricket.sock")
	e.CricketPIDs = []int{e.cricketd.Process.Pid, e.ctrdA.PID()}
	e.CricketContainerd = e.ctrdA.Address()
	if err := waitReady(ctx, e.CricketAddr); err != nil {
		return nil, fmt.Errorf("cricketd (log %s): %w", logf.Name(), err)
	}

	if o.Compare {
		netB := filepath.Join(dir, "net-containerd")
		if err := writeConflist(netB, "ckbench1", "10.248.1.0/24"); err != nil {
			return nil, err
		}
		e.bridges = append(e.bridges, "ckbench1")
		// containerd's CRI plugin, configured like cricket: same pause
		// image, same plugins, runc shim; oom_score_adj restricted as
		// this host requires.
		cri := fmt.Sprintf(`[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, e.Pause, netB)
		if e.ctrdB, err = containerdproc.Start(ctx, containerdproc.Options{
			Layout: containerdproc.Layout{Root: filepath.Join(dir, "ctrd-cri", "root"), State: filepath.Join(dir, "ctrd-cri", "state")},
			CRI:    cri,
			Log:    o.Log,
		}); err != nil {
			return nil, err
		}
		e.CompareAddr = "unix://" + e.ctrdB.Address()
		e.ComparePIDs = []int{e.ctrdB.PID()}
		e.CompareContainerd = e.ctrdB.Address()
		if err := waitReady(ctx, e.CompareAddr); err != nil {
			return nil, fmt.Errorf("containerd CRI: %w", err)
		}
	}
	return e, nil
}

// Close stops everything and removes what the run created. Pods left by
// an interrupted run go with their containerd's state.
func (e *Env) Close() {
	if e.cricketd != nil && e.cricketd.Process != nil {
		e.cricketd.Process.Signal(syscall.SIGTERM)
		e.cricketd.Wait()
	}
	for _, s := range []*containerdproc.Supervisor{e.ctrdA, e.ctrdB} {
		if s != nil {
			s.Stop(20 * time.Second)
		}
	}
	killShims(e.Dir)
	if e.registry != nil {
		e.registry.Close()
	}
	for _, b := range e.bridges {
		if l, err := netlink.LinkByName(b); err == nil {
			netlink.LinkDel(l)
		}
	}
	if keep := os.Getenv("CRIBENCH_KEEP_LOG"); keep != "" {
		if b, err := os.ReadFile(filepath.Join(e.Dir, "cricketd.log")); err == nil {
			os.WriteFile(keep, b, 0o644)
		}
	}
	mounts.UnmountUnder(e.Dir)
	os.RemoveAll(e.Dir)
}

func waitReady(ctx context.Context, addr string) error {
	ep, err := Dial("probe", addr)
	if err != nil {
		return err
	}
	defer ep.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := ep.Runtime.Status(cctx, &runtime.StatusRequest{})
		cancel()
		if err == nil {
			ready := 0
			for _, c := range st.GetStatus().GetConditions() {
				if c.Status {
					ready++
				}
			}
			if ready == 2 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("not ready (RuntimeReady and NetworkReady) within 60s")
}

func writeConflist(dir, bridge, subnet string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"plugins":[
{"type":"bridge","bridge":%q,"isGateway":true,"ipMasq":false,"hairpinMode":true,
 "ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":%q}]]}},
{"type":"portmap","capabilities":{"portMappings":true}}]}`, bridge, bridge, filepath.Join(dir, "ipam"), subnet)
	return os.WriteFile(filepath.Join(dir, "10-bench.conflist"), []byte(conf), 0o644)
}

// killShims kills shims (and their containers) whose containerd lived
// under dir.
func killShims(dir string) {
	ents, _ := os.ReadDir("/proc")
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "containerd-shim") && strings.Contains(string(b), dir) {
			var pid int
			fmt.Sscanf(en.Name(), "%d", &pid)
			syscall.Kill(-pid, syscall.SIGKILL)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
