// Package stream is cricket's streaming server for kubectl exec, attach
// and port-forward: the CRI Exec/Attach/PortForward RPCs return a URL of
// this server with a single-use token, and the client (kubelet's proxy,
// crictl) upgrades a connection to it (SPDY or WebSocket), served by
// k8s.io/cri-streaming. This package connects that library to the
// container and sandbox managers.
package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"k8s.io/cri-streaming/pkg/streaming"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/cricket-cri/cricket/container"
	"github.com/cricket-cri/cricket/sandbox"
)

// Options configure the server.
type Options struct {
	Address string // IP to listen on (127.0.0.1 by default)
	Port    int    // 0 picks a free port
	// TLS, if set, serves https.
	TLS *tls.Config
	Log *slog.Logger
}

// Server serves streaming requests until Stop.
type Server struct {
	streaming.Server
	http *http.Server
	lis  net.Listener
	log  *slog.Logger
}

// New listens on the configured address and returns the server; Serve
// starts answering.
func New(opts Options, containers *container.Manager, sandboxes *sandbox.Manager) (*Server, error) {
	addr := net.JoinHostPort(opts.Address, strconv.Itoa(opts.Port))
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("streaming server: listen on %s: %w", addr, err)
	}
	base := &url.URL{Scheme: "http", Host: lis.Addr().String()}
	if opts.TLS != nil {
		base.Scheme = "https"
	}
	cfg := streaming.DefaultConfig
	cfg.Addr, cfg.BaseURL, cfg.TLSConfig = lis.Addr().String(), base, opts.TLS
	srv, err := streaming.NewServer(cfg, &adapter{containers: containers, sandboxes: sandboxes})
	if err != nil {
		lis.Close()
		return nil, err
	}
	return &Server{
		Server: srv,
		http:   &http.Server{Handler: srv, TLSConfig: opts.TLS, ReadHeaderTimeout: 30 * time.Second},
		lis:    lis,
		log:    opts.Log,
	}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Serve answers requests until Stop.
func (s *Server) Serve() error {
	var err error
	if s.http.TLSConfig != nil {
		err = s.http.ServeTLS(s.lis, "", "")
	} else {
		err = s.http.Serve(s.lis)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Stop closes the listener and every open stream.
func (s *Server) Stop() error { return s.http.Close() }

// adapter is the streaming library's runtime: exec and attach through the
// container manager, port-forward through the sandbox manager.
type adapter struct {
	containers *container.Manager
	sandboxes  *sandbox.Manager
}

func (a *adapter) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	code, err := a.containers.Exec(ctx, id, cmd, streams(in, out, errw, tty, resize))
	if err != nil {
		return err
	}
	if code != 0 {
		// The library reports an ExitError's code to the client.
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

func (a *adapter) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return a.containers.Attach(ctx, id, streams(in, out, errw, tty, resize))
}

func (a *adapter) PortForward(ctx context.Context, id string, port int32, stream io.ReadWriteCloser) error {
	return a.sandboxes.PortForward(ctx, id, port, stream)
}

// streams converts the library's stream ends; a nil interface value stays
// nil (the client did not ask for that stream).
func streams(in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) container.Streams {
	s := container.Streams{Stdin: in, Stdout: out, Stderr: errw, TTY: tty}
	if resize != nil {
		ch := make(chan container.TerminalSize)
		go func() {
			defer close(ch)
			for sz := range resize {
				ch <- container.TerminalSize{Width: sz.Width, Height: sz.Height}
			}
		}()
		s.Resize = ch
	}
	return s
}
