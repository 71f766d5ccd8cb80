package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/container"
	"github.com/cricket-cri/cricket/containerdproc"
	"github.com/cricket-cri/cricket/cri"
	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/lease"
	"github.com/cricket-cri/cricket/internal/listbudget"
	"github.com/cricket-cri/cricket/internal/procs"
	"github.com/cricket-cri/cricket/internal/version"
	"github.com/cricket-cri/cricket/metrics"
	"github.com/cricket-cri/cricket/network"
	"github.com/cricket-cri/cricket/nri"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/spec"
	"github.com/cricket-cri/cricket/stats"
	"github.com/cricket-cri/cricket/stream"
	"github.com/cricket-cri/cricket/tracing"
)

// shutdownGrace bounds how long in-flight calls may finish after a signal.
const shutdownGrace = 10 * time.Second

// governOnce starts one processor governor per process (see package procs).
var governOnce sync.Once

// tracingFlushTimeout bounds exporting the last spans at shutdown: an
// unreachable collector must not hold up a restart.
const tracingFlushTimeout = 5 * time.Second

// Run serves CRI until ctx is cancelled, then shuts down in order: stop
// accepting calls, let in-flight calls finish (bounded), close the socket,
// stop a managed containerd. Containers keep running throughout. Each of
// reloads' signals reloads the config (see reloader).
func Run(ctx context.Context, cfg *config.Config, logOut io.Writer, reloads Reloads) error {
	// The running config: the services read its reloadable keys from
	// live; cfg is used below only for what cannot change while running.
	base := cfg
	live := config.NewLive(cfg)
	log := newLogger(live, logOut)
	// One governor per process (tests run several daemons in one).
	governOnce.Do(func() { procs.Govern(ctx, log.With("component", "procs")) })
	for _, dir := range []string{cfg.Root, cfg.State} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return err
		}
	}
	// Claim the socket first: a second daemon must fail before it touches
	// containerd or any state.
	lis, err := listen(cfg.SocketPath())
	if err != nil {
		return err
	}
	defer lis.Close()
	// Then the directories: two daemons on one root or state dir (on
	// different sockets) would undo each other's work, a managed
	// containerd first (each stops what it takes for a left-over one).
	for _, d := range []struct{ dir, what string }{{cfg.Root, "root"}, {cfg.State, "state"}} {
		if d.what == "state" && filepath.Clean(cfg.State) == filepath.Clean(cfg.Root) {
			break // one directory, one lock
		}
		lock, err := holdLock(filepath.Join(d.dir, "cricketd.lock"), d.what+" directory "+d.dir)
		if err != nil {
			return err
		}
		defer lock.Close()
	}

	address := cfg.Containerd.Address
	var shimDirs []string
	if cfg.Containerd.Managed {
		shimDirs = ownShimDirs()
		if shimDirs != nil {
			log.Info("managed containerd finds cricket's shim next to cricketd", "dir", shimDirs[0])
		}
		sup, err := containerdproc.Start(ctx, containerdproc.Options{
			Layout: containerdproc.Layout{
				Root:  filepath.Join(cfg.Root, "containerd"),
				State: filepath.Join(cfg.State, "containerd"),
			},
			Binary:   cfg.Containerd.Binary,
			Log:      log,
			PathDirs: shimDirs,
		})
		if err != nil {
			return err
		}
		defer sup.Stop(shutdownGrace)
		address = sup.Address()
		// Report the address in use (Status verbose shows the config).
		c := *cfg
		c.Containerd.Address = address
		cfg = &c
		live.Swap(cfg)
	}
	// Tracing before the containerd client, whose connection carries its
	// stats handler; shut down last (deferred first), after the CRI server
	// has finished its calls, so that their spans are exported.
	tr, err := tracing.New(cfg.Tracing, version.String(), log.With("component", "tracing"))
	if err != nil {
		return err
	}
	defer func() {
		if err := tr.Shutdown(tracingFlushTimeout); err != nil {
			log.Warn("tracing shutdown", "error", err)
		}
	}()
	if tr.Enabled() {
		log.Info("tracing CRI and containerd calls", "endpoint", cfg.Tracing.Endpoint,
			"sampling_ratio", cfg.Tracing.SamplingRatio, "insecure", cfg.Tracing.Insecure)
	}
	cc, err := client.New(address,
		client.WithDefaultNamespace(cfg.Containerd.Namespace),
		// Short reconnect backoff: after a containerd restart, calls should
		// succeed again within seconds.
		client.WithTimeout(2*time.Second),
		client.WithExtraDialOpts(tr.DialOptions()),
	)
	if err != nil {
		return fmt.Errorf("containerd client for %s: %w", address, err)
	}
	defer cc.Close()

	// Operation metrics, when enabled, are created once the managers they
	// count exist; the pull hook reads the variable at call time.
	var opMetrics *metrics.Metrics
	images, err := image.New(cc, image.Options{
		Snapshotter:         cfg.Containerd.Snapshotter,
		Config:              live,
		PullProgressTimeout: time.Duration(cfg.ImagePullProgressTimeout),
		SpoolDir:            filepath.Join(cfg.Root, "pull-spool"),
		OnPull:              func(n int64, d time.Duration, err error) { opMetrics.ObservePull(n, d, err) },
		Log:                 log.With("component", "image"),
	})
	if err != nil {
		return fmt.Errorf("sandbox_image: %w", err)
	}
	backend, err := networkBackend(cfg, log.With("component", "network"))
	if err != nil {
		return err
	}
	netm := network.NewManager(backend, cfg.State)
	defer netm.Close()

	// NRI plugins (nil when NRI is off) start once state is restored.
	plugins, err := nri.New(nri.Options{Config: cfg.NRI, Version: version.String(), Log: log.With("component", "nri")})
	if err != nil {
		return err
	}
	defer plugins.Stop()

	oom := spec.NewOOMScore(log)
	lifecycle := &events.Broker{}
	listing := listbudget.New(cri.ListBudgetBytes)
	sandboxes := sandbox.New(cc, images, netm, sandbox.Options{
		Root:              cfg.Root,
		State:             cfg.State,
		Namespace:         cfg.Containerd.Namespace,
		ContainerdAddress: address,
		ShimDirs:          shimDirs,
		Snapshotter:       cfg.Containerd.Snapshotter,
		Config:            live,
		Pinned:            cfg.SandboxMode == config.SandboxModePinned,
		SystemdCgroup:     cfg.CgroupDriver == config.CgroupDriverSystemd,
		OOM:               oom,
		Events:            lifecycle,
		ListBudget:        listing,
		NRI:               plugins,
		Log:               log.With("component", "sandbox"),
	})
	var cdiRegistry *spec.CDI
	if cfg.CDI.Enabled {
		if cdiRegistry, err = spec.NewCDI(cfg.CDI.SpecDirs, log.With("component", "cdi")); err != nil {
			return err
		}
	}
	collector := stats.NewCollector(time.Duration(cfg.StatsCollectPeriod), nil, log.With("component", "stats"))
	containers := container.New(cc, images, sandboxes, container.Options{
		Root:           cfg.Root,
		State:          cfg.State,
		Namespace:      cfg.Containerd.Namespace,
		Snapshotter:    cfg.Containerd.Snapshotter,
		MaxLogLineSize: cfg.MaxContainerLogLineSize,
		IgnoreVolumes:  cfg.IgnoreImageVolumes,
		SystemdCgroup:  cfg.CgroupDriver == config.CgroupDriverSystemd,
		Stats:          collector,
		Events:         lifecycle,
		OOM:            oom,
		ListBudget:     listing,
		CDI:            cdiRegistry,
		NRI:            plugins,
		Log:            log.With("component", "container"),
	})
	// Recover before serving: every call must see the state as it was.
	// Events start first so that no exit falls between recovery and the
	// subscription (a duplicate exit is harmless).
	monitor := events.Start(cc, cfg.Containerd.Namespace, log.With("component", "events"), images, sandboxes, containers)
	defer monitor.Stop()
	// cricketd serves at once (Status must answer even when containerd
	// does not); pod and container calls wait for recovery, which needs
	// containerd and runs as soon as it answers.
	collector.SetSource(containers.StatsTargets)
	collector.Start()
	defer collector.Stop()
	recovered := newGate()
	ready, nriUp := readyWithNRI(recovered, plugins)
	go func() {
		recoverWhenReachable(ctx, cc, log, recovered,
			func(ctx context.Context) error {
				return lease.RemoveLeftovers(namespaces.WithNamespace(ctx, cfg.Containerd.Namespace), cc)
			},
			sandboxes.Recover, containers.Recover)
		if nriUp != nil {
			startNRI(ctx, plugins, containers.NRIDomain(), log, nriUp)
		}
	}()

	if cfg.Metrics.Address != "" {
		opMetrics = metrics.New(
			func() map[string]int {
				return countStates(sandboxes.List(), func(sb *sandbox.Sandbox) string { return sb.Status().State.String() })
			},
			func() map[string]int {
				return countStates(containers.List(""), func(c *container.Container) string { return c.Status().State.String() })
			},
		)
		msrv, err := opMetrics.Serve(cfg.Metrics.Address, log.With("component", "metrics"))
		if err != nil {
			return fmt.Errorf("metrics endpoint: %w", err)
		}
		defer msrv.Close()
	}
	if cfg.Debug.Address != "" {
		dsrv, err := serveDebug(cfg.Debug.Address, log.With("component", "debug"))
		if err != nil {
			return err
		}
		defer dsrv.Close()
	}
	var streamTLS *tls.Config
	if cfg.StreamServer.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.StreamServer.TLSCertFile, cfg.StreamServer.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("stream_server TLS: %w", err)
		}
		streamTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	streams, err := stream.New(stream.Options{
		Address: cfg.StreamServer.Address,
		Port:    cfg.StreamServer.Port,
		TLS:     streamTLS,
		Log:     log.With("component", "stream"),
	}, containers, sandboxes)
	if err != nil {
		return err
	}
	go func() {
		if err := streams.Serve(); err != nil {
			log.Error("streaming server stopped", "error", err)
		}
	}()
	defer streams.Stop()

	if reloads.Signals != nil {
		r := &reloader{live: live, base: base, load: reloads.Load, path: reloads.Path, log: log, cdi: cdiRegistry}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); r.run(rctx, reloads.Signals) }()
		defer func() { cancel(); <-done }()
	}

	srv := cri.New(cri.Deps{Config: live, Containerd: cc, Images: images, Network: netm,
		Sandboxes: sandboxes, Containers: containers, Streams: streams, Events: lifecycle, Metrics: opMetrics, Recovered: ready, Log: log})
	g := srv.NewGRPCServer(tr.ServerOptions()...)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	log.Info("cricketd serving CRI", "version", version.String(), "listen", cfg.SocketPath(), "streaming", streams.Addr(),
		"containerd", address, "namespace", cfg.Containerd.Namespace, "managed", cfg.Containerd.Managed)

	select {
	case err := <-served:
		return fmt.Errorf("serve CRI: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight calls", "grace", shutdownGrace)
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownGrace):
		log.Warn("in-flight calls did not finish in time; closing them")
		g.Stop()
	}
	log.Info("cricketd stopped")
	return nil
}

// countStates counts objects by state for the metrics endpoint.
func countStates[T any](objs []T, state func(T) string) map[string]int {
	out := map[string]int{}
	for _, o := range objs {
		out[state(o)]++
	}
	return out
}

// networkBackend builds the pod network backend that network.mode names.
func networkBackend(cfg *config.Config, log *slog.Logger) (network.Backend, error) {
	if cfg.Network.Mode == config.NetworkModeBridge {
		b := cfg.Network.Bridge
		return network.NewBridge(network.BridgeOptions{
			Name:    b.Name,
			Subnet:  b.Subnet,
			MTU:     b.MTU,
			IPMasq:  b.IPMasq,
			DataDir: filepath.Join(cfg.Root, "network", "ipam"),
			Log:     log,
		})
	}
	return network.NewCNIConfig(network.CNIOptions{
		ConfDir: cfg.CNI.ConfDir,
		BinDirs: cfg.CNI.BinDirs,
		Timeout: time.Duration(cfg.CNI.Timeout),
		Log:     log,
	})
}
