package shim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/runc/libcontainer"
)

// RuntimeType is the containerd runtime type that runs this shim; containerd
// derives the binary name containerd-shim-cricket-v1 from it.
const RuntimeType = "io.containerd.cricket.v1"

// flags are what containerd passes to every shim command.
type flags struct {
	namespace string
	id        string
	address   string // containerd's gRPC address
	bundle    string // delete only; the other commands run in the bundle
	debug     bool
	// podShim: cricketd spawned this shim for the pod named by id (see
	// Service.hold).
	podShim bool
	action  string // "start", "delete" or "" (serve)
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("containerd-shim-cricket-v1", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.namespace, "namespace", "", "containerd namespace")
	fs.StringVar(&f.id, "id", "", "id of the task")
	fs.StringVar(&f.address, "address", "", "containerd's gRPC address")
	fs.StringVar(&f.bundle, "bundle", "", "bundle path (delete)")
	fs.BoolVar(&f.debug, "debug", false, "debug logging")
	fs.BoolVar(&f.podShim, "pod-shim", false, "spawned by cricketd for the pod named by -id: serves until a Shutdown for that ID")
	var publishBinary, socket string
	fs.StringVar(&publishBinary, "publish-binary", "", "unused: events go to TTRPC_ADDRESS")
	fs.StringVar(&socket, "socket", "", "unused")
	var version bool
	fs.BoolVar(&version, "v", false, "print the version")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if version {
		f.action = "version"
		return f, nil
	}
	f.action = fs.Arg(0)
	if f.namespace == "" {
		return f, fmt.Errorf("-namespace is required")
	}
	if f.id == "" && f.action != "" {
		return f, fmt.Errorf("-id is required")
	}
	return f, nil
}

// Main runs a shim command and returns the process's exit code.
func Main(args []string) int {
	f, err := parseFlags(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "containerd-shim-cricket-v1: %v\n", err)
		return 1
	}
	ctx := namespaces.WithNamespace(context.Background(), f.namespace)
	switch f.action {
	case "version":
		fmt.Printf("containerd-shim-cricket-v1 (runtime %s)\n", RuntimeType)
		return 0
	case "start":
		err = start(ctx, f)
	case "delete":
		err = cleanup(ctx, f)
	case "":
		err = serve(ctx, f)
	default:
		err = fmt.Errorf("unknown command %q", f.action)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "containerd-shim-cricket-v1 %s: %v\n", f.action, err)
		return 1
	}
	return 0
}

// InitContainer is the container's init: libcontainer re-executes the
// shim's binary as "init" in the container's namespaces (entered by the
// nsenter constructor before the Go runtime started), and this finishes
// the set-up and executes the container's process. It never returns.
func InitContainer() {
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	libcontainer.Init()
	os.Exit(1)
}
