// Package cri is cricket's gRPC facade: it registers the CRI v1
// RuntimeService and ImageService, validates requests, converts between CRI
// messages and domain types, and delegates to the domain packages. Logging
// and error mapping happen once, in the decorator (instrument.go). RPCs that
// have no implementation yet fall through to the generated Unimplemented
// methods.
package cri

import (
	"log/slog"

	"github.com/containerd/containerd/v2/client"
	"google.golang.org/grpc"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/container"
	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/metrics"
	"github.com/cricket-cri/cricket/network"
	"github.com/cricket-cri/cricket/sandbox"
)

// Deps are the domain services the facade delegates to.
type Deps struct {
	// Config is the running configuration, which a reload swaps.
	Config     *config.Live
	Containerd *client.Client
	Images     *image.Service
	Network    *network.Manager
	Sandboxes  *sandbox.Manager
	Containers *container.Manager
	// Streams issues the URLs of the streaming server.
	Streams StreamURLs
	// Events carries lifecycle events to GetContainerEvents.
	Events *events.Broker
	// Metrics records every call (nil when metrics are off).
	Metrics *metrics.Metrics
	// Recovered returns nil once pods and containers are restored; until
	// then their RPCs fail with Unavailable.
	Recovered func() error
	Log       *slog.Logger
}

// StreamURLs issues single-use streaming URLs (cri-streaming's server).
type StreamURLs interface {
	GetExec(*runtime.ExecRequest) (*runtime.ExecResponse, error)
	GetAttach(*runtime.AttachRequest) (*runtime.AttachResponse, error)
	GetPortForward(*runtime.PortForwardRequest) (*runtime.PortForwardResponse, error)
}

// Server implements runtime.RuntimeServiceServer and
// runtime.ImageServiceServer.
type Server struct {
	runtime.UnimplementedRuntimeServiceServer
	runtime.UnimplementedImageServiceServer
	Deps
}

// New returns the facade over deps.
func New(deps Deps) *Server {
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	return &Server{Deps: deps}
}

// MaxMsgSize is the largest message cricketd sends or receives: kubelet's
// limit in both directions.
const MaxMsgSize = 16 << 20

// ListBudgetBytes is what all pods and containers together may add to a
// list, status or event response (see package listbudget): three quarters
// of a message, which leaves room for what the budget counts roughly (the
// verbose info of one pod, stats figures, framing).
const ListBudgetBytes = MaxMsgSize / 4 * 3

// NewGRPCServer returns a gRPC server with the instrumentation decorator
// installed and the CRI services registered. opts come first: the daemon
// passes tracing's stats handler, which starts each call's span before
// the decorator runs.
func (s *Server) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	in := &instrument{log: s.Log, metrics: s.Metrics}
	opts = append(opts,
		grpc.ChainUnaryInterceptor(in.unary, s.gateUnary),
		grpc.ChainStreamInterceptor(in.stream, s.gateStream),
		grpc.MaxRecvMsgSize(MaxMsgSize),
		grpc.MaxSendMsgSize(MaxMsgSize),
	)
	g := grpc.NewServer(opts...)
	runtime.RegisterRuntimeServiceServer(g, s)
	runtime.RegisterImageServiceServer(g, s)
	return g
}
