package sandbox

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/image"
)

// controller runs the process that holds a sandbox's namespaces. The pause
// container is the only implementation today; the interface keeps room for
// a sandbox without a pause process (namespaces pinned by bind mounts).
type controller interface {
	// Start creates and starts the sandbox process and returns its PID.
	Start(ctx context.Context, sb *Sandbox, img *image.Image) (uint32, error)
	// Stop kills the sandbox process and waits for it to exit. Stopping a
	// stopped or missing process succeeds.
	Stop(ctx context.Context, sb *Sandbox) error
	// Delete removes every containerd object of the sandbox process.
	// Deleting a missing sandbox succeeds.
	Delete(ctx context.Context, sb *Sandbox) error
	// Running reports whether the sandbox process is alive.
	Running(ctx context.Context, sb *Sandbox) (bool, error)
	// Spec returns the OCI spec the sandbox process runs with.
	Spec(ctx context.Context, sb *Sandbox) (*specs.Spec, error)
}
