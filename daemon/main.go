// Package daemon assembles cricketd: configuration and flags, the containerd
// connection (or a managed containerd), the domain services, the CRI socket,
// and orderly shutdown. cmd/cricketd only calls Main.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/sigreset"
	"github.com/cricket-cri/cricket/internal/version"
)

// Main runs cricketd with the given arguments (without the program name) and
// returns its exit code.
func Main(args []string, stderr io.Writer) int {
	cfg, reloads, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errVersion) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "cricketd:", err)
		return 2
	}
	// Signals ignored by whatever started cricketd (nohup, a shell's
	// background job, make) would pass ignored through a managed
	// containerd and the shims into every container. SIGHUP is caught
	// instead, and reloads the config (cricketd outlives a hangup as
	// under nohup). A SIGHUP during start-up waits in the channel.
	sigreset.Inherited()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloads.Signals = hup
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := Run(ctx, cfg, stderr, reloads); err != nil {
		fmt.Fprintln(stderr, "cricketd:", err)
		return 1
	}
	return 0
}

var errVersion = errors.New("version printed")

// parse reads the config file and applies the command-line flags over it.
// The Reloads it returns (without signals) read the file again the same
// way, so the flags keep winning over the file after a reload.
func parse(args []string, stderr io.Writer) (*config.Config, Reloads, error) {
	fs := flag.NewFlagSet("cricketd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		path       = fs.String("config", config.DefaultConfigPath, "TOML config file (a missing default file means defaults)")
		listen     = fs.String("listen", config.DefaultListen, "CRI endpoint (unix socket)")
		address    = fs.String("containerd-address", config.DefaultContainerdAddress, "containerd socket")
		namespace  = fs.String("containerd-namespace", config.DefaultContainerdNS, "containerd namespace")
		managed    = fs.Bool("containerd-managed", false, "start and supervise a private containerd")
		root       = fs.String("root", config.DefaultRoot, "persistent state directory")
		state      = fs.String("state", config.DefaultState, "volatile state directory")
		logLevel   = fs.String("log-level", "info", "debug, info, warn or error")
		showVerion = fs.Bool("version", false, "print the version and exit")
	)
	if err := fs.Parse(args); err != nil {
		return nil, Reloads{}, err
	}
	if fs.NArg() > 0 {
		return nil, Reloads{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *showVerion {
		fmt.Fprintln(stderr, "cricketd", version.String())
		return nil, Reloads{}, errVersion
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	load := func() (*config.Config, error) {
		cfg, err := config.Load(*path, set["config"])
		if err != nil {
			return nil, err
		}
		// Flags the user gave win over the file.
		apply := map[string]func(){
			"listen":               func() { cfg.Listen = *listen },
			"containerd-address":   func() { cfg.Containerd.Address = *address },
			"containerd-namespace": func() { cfg.Containerd.Namespace = *namespace },
			"containerd-managed":   func() { cfg.Containerd.Managed = *managed },
			"root":                 func() { cfg.Root = *root },
			"state":                func() { cfg.State = *state },
			"log-level":            func() { cfg.LogLevel = *logLevel },
		}
		for name, f := range apply {
			if set[name] {
				f()
			}
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("config %s: %w", *path, err)
		}
		return cfg, nil
	}
	cfg, err := load()
	if err != nil {
		return nil, Reloads{}, err
	}
	return cfg, Reloads{Load: load, Path: *path}, nil
}
