package testrig

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/cgroup"
	"github.com/cricket-cri/cricket/internal/mounts"
	"github.com/cricket-cri/cricket/internal/shimproc"
	"github.com/cricket-cri/cricket/internal/testhold"
)

// DaemonOptions adjust a test cricketd.
type DaemonOptions struct {
	// Configure edits the generated config before it is written.
	Configure func(*config.Config)
	// Hosts are hosts.toml files for the registry config dir, by registry
	// host ("mirror.test" or "127.0.0.1:5000").
	Hosts map[string]string
	// Managed runs cricketd with its own managed containerd instead of the
	// shared one.
	Managed bool
	// Network, if set, is installed as the daemon's CNI network before it
	// starts (see NewPodNetwork).
	Network *PodNetwork
	// Registry serves the sandbox image; StartDaemon starts one if nil.
	Registry *Registry
	// Containerd, if set, is the daemon's containerd instead of the
	// shared one.
	Containerd *PrivateContainerd
	// NoReadyWait makes Start return once the daemon answers, without
	// waiting for RuntimeReady (for tests of an unready runtime).
	NoReadyWait bool
	// Env is added to cricketd's environment (after the test process's).
	Env []string
	// Holds turns on cricketd's test holds (package testhold), for Hold.
	Holds bool
	// Executable is the cricketd to run: a copy or hard link of the test
	// binary (which runs cricketd when re-executed) placed elsewhere,
	// for tests of what cricketd finds next to itself. Default: the test
	// binary.
	Executable string
}

// Daemon is a cricketd process under test and CRI clients connected to it.
type Daemon struct {
	Dir        string
	Config     *config.Config
	ConfigPath string
	Runtime    runtime.RuntimeServiceClient
	Images     runtime.ImageServiceClient
	Registry   *Registry
	Network    *PodNetwork
	// PauseImage is the sandbox image (in Registry).
	PauseImage string

	tb          testing.TB
	noReadyWait bool
	env         []string
	exe         string
	holdDir     string // "" without Holds
	conn        *grpc.ClientConn
	cmd         *exec.Cmd
	exited      chan struct{}
	logPath     string
	pods        podIDs // for the census of shim sockets
}

// StartDaemon writes a config for a fresh cricketd (own socket, root,
// state, registry hosts dir, CNI conf dir and containerd namespace on the
// shared containerd), starts it and waits until it answers CRI calls. The
// daemon is stopped and its namespace purged when the test ends.
func StartDaemon(tb testing.TB, opts DaemonOptions) *Daemon {
	tb.Helper()
	requirePrivileges(tb)
	// Unix socket paths are limited to 108 bytes: keep the directory short.
	dir, err := os.MkdirTemp("", "ck-")
	if err != nil {
		tb.Fatal(err)
	}
	// Searchable by all, as /run/cricket is (see Containerd).
	if err := os.Chmod(dir, 0o711); err != nil {
		tb.Fatal(err)
	}
	reg := opts.Registry
	if reg == nil {
		reg = StartRegistry(tb)
	}
	pause := reg.Host + "/pause:3.10"
	reg.Push(tb, "pause:3.10", PauseImage(tb))
	cfg := config.Default()
	cfg.SandboxImage = pause
	cfg.Listen = "unix://" + filepath.Join(dir, "cricket.sock")
	cfg.Root = filepath.Join(dir, "root")
	cfg.State = filepath.Join(dir, "state")
	cfg.LogLevel = "debug"
	cfg.Registry.ConfigPath = filepath.Join(dir, "certs.d")
	cfg.CNI.ConfDir = filepath.Join(dir, "net.d")
	cfg.CNI.BinDirs = append(cfg.CNI.BinDirs, filepath.Join(dir, "cni-bin"))
	cfg.Containerd.Namespace = namespaceFor(tb)
	switch {
	case opts.Managed:
		cfg.Containerd.Managed = true
	case opts.Containerd != nil:
		cfg.Containerd.Address = opts.Containerd.Address
	default:
		cfg.Containerd.Address = Containerd(tb)
	}
	if opts.Network != nil {
		opts.Network.configure(cfg)
	}
	if opts.Configure != nil {
		opts.Configure(cfg)
	}
	for host, content := range opts.Hosts {
		hd := filepath.Join(cfg.Registry.ConfigPath, host)
		if err := os.MkdirAll(hd, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hd, "hosts.toml"), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	data, err := toml.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if opts.Network != nil {
		opts.Network.install(tb, cfg.CNI.ConfDir, filepath.Join(dir, "cni-bin"))
	}
	d := &Daemon{
		Registry:    reg,
		noReadyWait: opts.NoReadyWait,
		env:         opts.Env,
		exe:         opts.Executable,
		Network:     opts.Network,
		PauseImage:  pause,
		Dir:         dir,
		Config:      cfg,
		ConfigPath:  filepath.Join(dir, "config.toml"),
		tb:          tb,
		logPath:     filepath.Join(dir, "cricketd.log"),
	}
	if err := os.WriteFile(d.ConfigPath, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if opts.Holds {
		d.holdDir = filepath.Join(dir, "holds")
		if err := os.Mkdir(d.holdDir, 0o700); err != nil {
			tb.Fatal(err)
		}
		d.env = append(d.env, testhold.Env+"="+d.holdDir)
	}
	tb.Cleanup(func() { d.cleanup() })
	d.Start()
	return d
}

// Start starts the daemon process (again) and connects the CRI clients.
func (d *Daemon) Start() {
	d.tb.Helper()
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.tb.Fatal(err)
	}
	defer logf.Close()
	self := d.exe
	if self == "" {
		if self, err = os.Executable(); err != nil {
			d.tb.Fatal(err)
		}
	}
	cmd := exec.Command(self, "--config", d.ConfigPath)
	cmd.Env = append(append(os.Environ(), daemonEnv+"=1"), d.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.tb.Fatal(err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(d.exited)

	if d.conn == nil {
		// 16 MiB messages, as kubelet allows.
		conn, err := grpc.NewClient(d.Config.Listen, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)),
			grpc.WithChainUnaryInterceptor(d.pods.record))
		if err != nil {
			d.tb.Fatal(err)
		}
		d.conn = conn
		d.Runtime = runtime.NewRuntimeServiceClient(conn)
		d.Images = runtime.NewImageServiceClient(conn)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := d.Runtime.Version(ctx, &runtime.VersionRequest{})
		cancel()
		if err == nil {
			break
		}
		select {
		case <-d.exited:
			d.tb.Fatalf("cricketd exited during start-up: %s\n%s", d.cmd.ProcessState, d.Log())
		default:
		}
		if time.Now().After(deadline) {
			d.tb.Fatalf("cricketd did not answer within 60s: %v\n%s", err, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !d.noReadyWait {
		d.WaitReady()
	}
}

// WaitReady waits until the daemon reports RuntimeReady: containerd
// answers and its pods and containers are restored.
func (d *Daemon) WaitReady() {
	d.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := d.Runtime.Status(ctx, &runtime.StatusRequest{})
		cancel()
		if err == nil {
			for _, c := range st.GetStatus().GetConditions() {
				if c.Type == runtime.RuntimeReady && c.Status {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			d.tb.Fatalf("cricketd not RuntimeReady within 60s: %v %v\n%s", st, err, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for the daemon to exit.
func (d *Daemon) Stop() {
	d.tb.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		d.tb.Errorf("cricketd did not stop within 30s of SIGTERM")
	}
	d.cmd = nil
}

// Kill sends SIGKILL (a crash) and waits for the process to go.
func (d *Daemon) Kill() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill()
	<-d.exited
	d.cmd = nil
}

// Exited reports whether the process has exited, and its state.
func (d *Daemon) Exited() (bool, *os.ProcessState) {
	select {
	case <-d.exited:
		return true, d.cmd.ProcessState
	default:
		return false, nil
	}
}

// PID of the running daemon.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Log returns what the daemon has logged so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// Ctx returns a context for one CRI call, bounded so a hung daemon fails
// the test instead of stalling it.
func (d *Daemon) Ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	d.tb.Cleanup(cancel)
	return ctx
}

func (d *Daemon) cleanup() {
	if d.tb.Failed() {
		if keep := os.Getenv("CRICKET_KEEP_LOGS"); keep != "" {
			os.WriteFile(filepath.Join(keep, d.Config.Containerd.Namespace+".log"), []byte(d.Log()), 0o644)
		}
		log := d.Log()
		if len(log) > 20000 {
			log = "...\n" + log[len(log)-20000:]
		}
		d.tb.Logf("cricketd log (%s):\n%s", d.logPath, log)
	}
	d.Stop()
	if d.conn != nil {
		d.conn.Close()
	}
	if d.Config.Containerd.Managed {
		// A test that failed before removing its pods leaves their
		// shims serving a containerd that is gone now: they would
		// outlive the test run.
		for _, s := range shimproc.List() {
			if s.Namespace == d.Config.Containerd.Namespace {
				syscall.Kill(s.PID, syscall.SIGKILL)
			}
		}
	}
	if !d.Config.Containerd.Managed && shared.sup != nil && d.Config.Containerd.Address == shared.sup.Address() {
		if err := purgeNamespace(d.Config.Containerd.Address, d.Config.Containerd.Namespace); err != nil {
			d.tb.Errorf("purge containerd namespace %s: %v", d.Config.Containerd.Namespace, err)
		}
	}
	if d.Network != nil {
		d.Network.remove()
	}
	// The pods' cgroups are empty once cricketd removed them: a cgroup
	// that cannot be removed holds a process that outlived its pod.
	if left, err := cgroup.RemoveTree(d.CgroupParent("")); err != nil {
		d.tb.Errorf("remove the pods' cgroups: %v", err)
	} else if len(left) > 0 {
		d.tb.Errorf("pod cgroups still hold processes after the daemon's clean-up: %v", left)
	}
	mounts.UnmountUnder(d.Dir)
	os.RemoveAll(d.Dir)
}

var nsUnsafe = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// namespaceFor returns a containerd namespace unique to this test.
func namespaceFor(tb testing.TB) string {
	name := strings.Trim(nsUnsafe.ReplaceAllString(strings.ToLower(tb.Name()), "-"), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("ck-%s-%s", strings.Trim(name, "-"), hex.EncodeToString(b[:]))
}

// Grep reports whether the daemon's log contains s.
func (d *Daemon) Grep(s string) bool { return bytes.Contains([]byte(d.Log()), []byte(s)) }

// Image pushes an image built from spec to the daemon's registry as
// repoTag, pulls it through CRI and returns its reference.
func (d *Daemon) Image(tb testing.TB, repoTag string, spec ImageSpec) string {
	tb.Helper()
	d.Registry.Push(tb, repoTag, BuildImage(tb, spec))
	ref := d.Registry.Host + "/" + repoTag
	if _, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: ref}}); err != nil {
		tb.Fatalf("pull %s: %v", ref, err)
	}
	return ref
}
