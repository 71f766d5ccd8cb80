// Package nri runs the runtime side of NRI, the Node Resource Interface
// (github.com/containerd/nri), as containerd's CRI plugin does: plugins
// connect to a socket (or are started from a directory), are told of
// every pod and container event with the object as NRI describes it, may
// adjust a container as it is created, and may update containers'
// resources. The protocol, the plugins' registration, timeouts and the
// merging of several plugins' answers are the library's (its adaptation
// package); this package feeds it cricket's events, hands plugins'
// updates back to cricket (a Domain), and makes its errors cricket's.
//
// NRI is off unless configured: then New returns a nil *NRI, every method
// of which returns at once, and nothing of NRI runs.
package nri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	nrilog "github.com/containerd/nri/pkg/log"
	"github.com/containerd/ttrpc"

	"github.com/cricket-cri/cricket/config"
)

// runtimeName is how cricket introduces itself to plugins.
const runtimeName = "cricket"

// Domain is what plugins see of cricket and may change: its pods and
// containers. The container manager implements it.
type Domain interface {
	// ListPodSandboxes and ListContainers are what a plugin that
	// registers is synchronized with: every pod, and every container
	// that has not exited.
	ListPodSandboxes() []*api.PodSandbox
	ListContainers(ctx context.Context) []*api.Container
	// UpdateContainer applies resources a plugin asks for to a container,
	// through cricket's UpdateContainerResources path (without telling
	// plugins of it again).
	UpdateContainer(ctx context.Context, id string, r *api.LinuxResources) error
}

// Options configure NRI.
type Options struct {
	Config config.NRI
	// Version is cricket's, told to plugins.
	Version string
	Log     *slog.Logger
}

// NRI relays cricket's pod and container events to NRI plugins.
type NRI struct {
	a      *adaptation.Adaptation
	log    *slog.Logger
	socket string
	blame  *blame
	conns  *conns

	// mu serializes events, so that each plugin sees an object's events
	// in order, and guards state.
	mu    sync.Mutex
	state states

	// life guards started and stopped; bg tracks work that outlives the
	// call that began it (see background).
	life    sync.Mutex
	started bool
	stopped bool
	bg      sync.WaitGroup
	// running is set once Start succeeded: events before it have no
	// plugin to go to. It also keeps events away from the library while
	// it starts: the library synchronizes the plugins it starts under its
	// own lock, and synchronize then waits for mu, which an event holds
	// while it waits for the library's lock.
	running atomic.Bool

	// domain is set by Start; the library synchronizes plugins with it
	// during Start.
	dmu    sync.Mutex
	domain Domain
}

// New prepares NRI as configured; it is nil when NRI is disabled. Plugins
// are started, and the socket listened on, by Start.
func New(opts Options) (*NRI, error) {
	if !opts.Config.Enable {
		return nil, nil
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	// The library's timeouts and logger are process-wide.
	adaptation.SetPluginRegistrationTimeout(time.Duration(opts.Config.PluginRegistrationTimeout))
	adaptation.SetPluginRequestTimeout(time.Duration(opts.Config.PluginRequestTimeout))
	nrilog.Set(logger{log})
	n := &NRI{log: log, socket: opts.Config.SocketPath, blame: &blame{}, conns: newConns(), state: states{}}
	a, err := adaptation.New(runtimeName, opts.Version, n.synchronize, n.updateFromPlugin,
		adaptation.WithSocketPath(opts.Config.SocketPath),
		adaptation.WithPluginPath(opts.Config.PluginPath),
		adaptation.WithPluginConfigPath(opts.Config.PluginConfigPath),
		adaptation.WithMetrics(n.blame),
		adaptation.WithTTRPCOptions([]ttrpc.ClientOpts{n.conns.track}, nil),
	)
	if err != nil {
		return nil, fmt.Errorf("NRI: %w", err)
	}
	n.a = a
	return n, nil
}

// Enabled reports whether NRI is on: false for the nil *NRI of a
// disabled configuration.
func (n *NRI) Enabled() bool { return n != nil }

// on reports whether events go to plugins.
func (n *NRI) on() bool { return n != nil && n.running.Load() }

// relay runs f, which tells plugins of an event, when events go to
// plugins, with mu held: one event at a time, in order.
func (n *NRI) relay(f func()) {
	if !n.on() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	f()
}

// Start starts the plugins in the plugin directory, synchronizes them with
// d's pods and containers and listens for external plugins. cricketd
// calls it once its state is restored, so that plugins see it whole. A
// failed start leaves nothing running and may be tried again; once
// started, Start does nothing.
func (n *NRI) Start(d Domain) error {
	if n == nil {
		return nil
	}
	n.life.Lock()
	defer n.life.Unlock()
	if n.stopped {
		return errors.New("NRI: stopped")
	}
	if n.started {
		return nil
	}
	n.dmu.Lock()
	n.domain = d
	n.dmu.Unlock()
	if err := n.a.Start(); err != nil {
		n.a.Stop()
		return fmt.Errorf("start NRI (socket %s): %w", n.socket, err)
	}
	n.started = true
	n.running.Store(true)
	n.log.Info("NRI started", "socket", n.socket)
	return nil
}

// Stop stops the plugins cricketd started, closes every plugin's
// connection and the socket, and waits for work begun in the background.
func (n *NRI) Stop() {
	if n == nil {
		return
	}
	n.life.Lock()
	started := n.started
	n.stopped = true
	n.running.Store(false)
	n.life.Unlock()
	if started {
		n.a.Stop() // closes (and removes) the socket, kills started plugins
	}
	// The library leaves external plugins' connections open.
	if !n.conns.closeAll(5 * time.Second) {
		n.log.Warn("NRI plugin connections did not close within 5s")
	}
	n.bg.Wait()
	if started {
		if err := os.Remove(n.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			n.log.Warn("remove NRI socket", "path", n.socket, "error", err)
		}
	}
}

// background runs f off the caller's path unless NRI is stopping; Stop
// waits for it.
func (n *NRI) background(f func()) {
	n.life.Lock()
	defer n.life.Unlock()
	if n.stopped {
		return
	}
	n.bg.Go(f)
}

// domainOf returns the domain Start was given (nil before).
func (n *NRI) domainOf() Domain {
	n.dmu.Lock()
	defer n.dmu.Unlock()
	return n.domain
}

// BlockSync keeps plugins from registering until the returned function
// is called, so that a registering plugin sees a creation in flight whole
// or not at all. It must not be held twice on one path, nor taken while
// an event is being relayed.
func (n *NRI) BlockSync() (unblock func()) {
	if n == nil {
		return noop
	}
	return n.a.BlockPluginSync().Unblock
}

func noop() {}
