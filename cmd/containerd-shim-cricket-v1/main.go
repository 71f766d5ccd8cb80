// Command containerd-shim-cricket-v1 is cricket's containerd shim (runtime
// type io.containerd.cricket.v1): one process per pod that creates and runs
// the pod's containers in-process with runc's libcontainer. The same binary
// is the containers' init (libcontainer re-executes it as "init").
package main

import (
	"os"

	// Joins the container's namespaces before the Go runtime starts, when
	// the binary runs as a container's init (cgo).
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/cricket-cri/cricket/shim"
	// Answers "start" for a pod whose shim runs, before Go starts (cgo).
	_ "github.com/cricket-cri/cricket/shim/faststart"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		shim.InitContainer() // never returns
	}
	os.Exit(shim.Main(os.Args[1:]))
}
