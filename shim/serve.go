package shim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/fifo"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/internal/sigreset"
)

// serve is the shim's long-running process: it serves the task API on the
// socket its start command passed as file descriptor 3, until containerd
// shuts it down.
func serve(ctx context.Context, f flags) error {
	log := slog.New(slog.NewTextHandler(openLog(ctx), &slog.HandlerOptions{Level: logLevel(f.debug)}))
	smallFootprint()
	// The containers' processes are reparented to the shim when
	// libcontainer's helpers exit: it must be able to wait for them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become a subreaper: %w", err)
	}
	// Signals whoever started containerd ignored must not reach the
	// containers ignored: the shim's processes inherit its dispositions.
	// (Those catchSignals asks for are caught rather than ignored.)
	sigreset.Inherited()
	catchSignals()
	l, err := net.FileListener(os.NewFile(3, "socket"))
	if err != nil {
		return fmt.Errorf("shim socket: %w", err)
	}
	// The shim starts in the bundle of its first task (or the directory
	// cricketd starts a pinned pod's shim in), which containerd removes
	// when that task is deleted while the shim serves the pod's other
	// tasks; libcontainer resolves paths against the working directory
	// and fails without one. Everything the shim opens from there (its
	// log) is open by now.
	if err := os.Chdir("/"); err != nil {
		return err
	}
	pub := newEventPublisher(os.Getenv("TTRPC_ADDRESS"), f.namespace, log)
	// Last out: the events of the last tasks (exit, delete) reach
	// containerd before the process ends.
	defer pub.Close()
	svc := newService(ctx, f.namespace, pub, log)
	if f.podShim {
		svc.hold = f.id
	}
	svc.socket = l.Addr().String()
	server, err := ttrpc.NewServer(ttrpc.WithUnaryServerInterceptor(grpcErrors))
	if err != nil {
		return err
	}
	taskapi.RegisterTTRPCTaskService(server, svc)
	go func() {
		if err := server.Serve(ctx, l); err != nil && err != ttrpc.ErrServerClosed {
			log.Error("serve", "error", err)
		}
	}()
	go warmUp()
	<-svc.Done()
	// The socket was unlinked by Shutdown, before it answered: removing
	// it again here could remove the socket of the pod's next shim.
	// Exit now, as containerd's shims do: a graceful ttrpc Shutdown waits
	// for the connection that carries the Shutdown request to turn idle,
	// polled every 200 ms, while containerd, cricketd and the census wait
	// for the process to go. The one caller left gets ttrpc's ErrClosed
	// at worst, which containerd and cricketd take as the shim exiting.
	server.Close()
	return nil
}

// catchSignals keeps signals that would end the shim from ending it:
// containerd stops a shim with Shutdown, and SIGTERM, SIGINT or SIGHUP (a
// restart of whatever started containerd) must not take the pod's
// containers with it; a write to a FIFO whose reader went away must fail
// with EPIPE, not kill the shim (SIGPIPE).
//
// The signals are caught, never ignored: an ignored signal stays ignored
// across fork and exec, into libcontainer's init and the containers'
// processes (and Go keeps an inherited SIG_IGN of SIGINT and SIGHUP), where
// a shell could then not trap it and a stop signal would do nothing. A
// caught signal is reset to its default at exec.
func catchSignals() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		for range ch {
		}
	}()
}

// smallFootprint keeps the shim, one per pod, small, as containerd's shims
// are: a tighter garbage collection, memory handed back to the kernel
// twice a minute, and two threads for Go code unless GOMAXPROCS says
// otherwise (fewer threads, fewer stacks).
func smallFootprint() {
	debug.SetGCPercent(40)
	go func() {
		for range time.Tick(30 * time.Second) {
			debug.FreeOSMemory()
		}
	}()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2)
	}
}

// grpcErrors gives errors the codes containerd maps back to its error
// classes (NotFound, AlreadyExists, ...).
func grpcErrors(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
	resp, err := method(ctx, unmarshal)
	return resp, errgrpc.ToGRPC(err)
}

// openLog opens the FIFO containerd reads a shim's log from ("log" in the
// bundle the shim started in), or discards the log.
func openLog(ctx context.Context) io.Writer {
	if f, err := fifo.OpenFifo(ctx, "log", unix.O_WRONLY|unix.O_NONBLOCK, 0o700); err == nil {
		return f
	}
	return io.Discard
}

func logLevel(debug bool) slog.Level {
	if debug {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
