package containerdproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Options configure a Supervisor.
type Options struct {
	Layout
	// Binary is the containerd executable (looked up in PATH).
	Binary string
	// Log receives the supervisor's own messages.
	Log *slog.Logger
	// ReadyTimeout bounds each wait for the daemon to serve (default 30s).
	ReadyTimeout time.Duration
	// CRI, if set, enables containerd's built-in CRI plugin with this
	// configuration (TOML); cricketd never sets it.
	CRI string
	// PathDirs go first in containerd's PATH, where it looks for the shim
	// binary of a runtime type (containerd-shim-cricket-v1 next to
	// cricketd).
	PathDirs []string
}

// Supervisor owns one containerd process: it starts it, restarts it when it
// dies, and stops it on Stop.
type Supervisor struct {
	opts Options

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd exits
	stopping bool
	restarts int

	done chan struct{} // closed when the monitor loop ends
}

// Start launches containerd and waits until it serves gRPC health checks.
// A daemon left behind by an earlier supervisor that crashed is stopped first.
func Start(ctx context.Context, opts Options) (*Supervisor, error) {
	if opts.Binary == "" {
		opts.Binary = "containerd"
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	bin, err := exec.LookPath(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("managed containerd: %w (install containerd or set containerd.binary)", err)
	}
	opts.Binary = bin
	for _, d := range []string{opts.Root, opts.State} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("managed containerd: %w", err)
		}
	}
	if err := os.WriteFile(opts.ConfigPath(), []byte(opts.config(opts.CRI)), 0o600); err != nil {
		return nil, fmt.Errorf("managed containerd: write config: %w", err)
	}
	s := &Supervisor{opts: opts, done: make(chan struct{})}
	s.stopOrphan()
	if err := s.launch(ctx); err != nil {
		return nil, err
	}
	go s.monitor()
	return s, nil
}

// Address is the daemon's gRPC socket.
func (s *Supervisor) Address() string { return s.opts.Address() }

// Restarts is how many times the daemon was restarted after dying.
func (s *Supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// PID of the running daemon, or 0.
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// launch starts one containerd process and waits for it to serve.
func (s *Supervisor) launch(ctx context.Context) error {
	logf, err := os.OpenFile(s.opts.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("managed containerd: open log: %w", err)
	}
	defer logf.Close()
	// A socket left by a killed daemon would make the readiness probe talk
	// to nothing until containerd replaces it; remove it first.
	_ = os.Remove(s.opts.Address())
	cmd := exec.Command(s.opts.Binary, "--config", s.opts.ConfigPath())
	cmd.Env = prependPath(os.Environ(), s.opts.PathDirs)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a Ctrl-C in cricketd's terminal must not
		// reach containerd before cricketd has stopped serving.
		Setpgid: true,
		// If cricketd dies without stopping it, containerd goes too (the
		// next cricketd starts a fresh one; containers keep running).
		Pdeathsig: syscall.SIGTERM,
	}
	// The kernel sends Pdeathsig when the *thread* that forked the child
	// exits, not the process: Go ends a thread whenever a goroutine exits
	// locked to it, as cricketd's namespace helpers do by design. The
	// fork therefore runs on a thread locked until the child is gone.
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("managed containerd: start %s: %w", s.opts.Binary, err)
	}
	_ = os.WriteFile(s.opts.PIDPath(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)

	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	if err := waitServing(ctx, s.opts.Address(), s.opts.ReadyTimeout, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("managed containerd did not come up (log: %s): %w%s", s.opts.LogPath(), err, logTail(s.opts.LogPath()))
	}
	s.opts.Log.Info("managed containerd serving", "pid", cmd.Process.Pid, "address", s.opts.Address(), "log", s.opts.LogPath())
	return nil
}

// prependPath returns env with dirs first in its PATH (the whole PATH when
// env has none).
func prependPath(env, dirs []string) []string {
	if len(dirs) == 0 {
		return env
	}
	path := strings.Join(dirs, string(os.PathListSeparator))
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, "PATH="); ok {
			if rest != "" {
				path += string(os.PathListSeparator) + rest
			}
			continue
		}
		out = append(out, kv)
	}
	return append(out, "PATH="+path)
}

// monitor restarts the daemon whenever it exits unexpectedly, with backoff.
func (s *Supervisor) monitor() {
	defer close(s.done)
	backoff := time.Second
	for {
		s.mu.Lock()
		exited, started := s.exited, time.Now()
		s.mu.Unlock()
		<-exited

		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		state := s.cmd.ProcessState
		s.restarts++
		s.mu.Unlock()
		s.opts.Log.Error("managed containerd exited; restarting", "state", state.String(), "log", s.opts.LogPath())

		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		for {
			if s.isStopping() {
				return
			}
			if err := s.launch(context.Background()); err == nil {
				break
			} else {
				s.opts.Log.Error("managed containerd restart failed", "error", err, "retry_in", backoff)
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, 30*time.Second)
		}
	}
}

func (s *Supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// Stop terminates containerd (SIGTERM, then SIGKILL after timeout) and ends
// supervision. Running containers are left alone: their shims outlive it.
func (s *Supervisor) Stop(timeout time.Duration) error {
	s.mu.Lock()
	s.stopping = true
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
	}
	<-s.done
	_ = os.Remove(s.opts.PIDPath())
	return nil
}

// stopOrphan stops a containerd that an earlier supervisor started with the
// same config and left running (its supervisor was killed). Two daemons on
// one root would contend for the metadata database lock.
func (s *Supervisor) stopOrphan() {
	b, err := os.ReadFile(s.opts.PIDPath())
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !strings.Contains(string(cmdline), s.opts.ConfigPath()) {
		return // gone, or the pid now belongs to something else
	}
	s.opts.Log.Warn("stopping containerd left behind by an earlier cricketd", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// waitServing polls containerd's gRPC health service until it reports
// SERVING, the process exits, or the timeout passes.
func waitServing(ctx context.Context, address string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		r, err := health.Check(cctx, &healthpb.HealthCheckRequest{})
		ccancel()
		if err == nil && r.Status == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-exited:
			return errors.New("containerd exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("not serving after %s: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// logTail returns the last lines of the daemon's log for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return "\n--- containerd log tail ---\n" + string(b)
}
