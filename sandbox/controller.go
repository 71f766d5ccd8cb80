package sandbox

import (
	"context"
	"encoding/json"

	"github.com/cricket-cri/cricket/image"
)

// controller holds a sandbox's namespaces: pauseController with a pause
// container, pinnedController with bind mounts and no process.
type controller interface {
	// Create creates the sandbox process, with its namespaces, without
	// running it, and returns its PID.
	Create(ctx context.Context, sb *Sandbox, img *image.Image) (uint32, error)
	// Start runs the created sandbox process.
	Start(ctx context.Context, sb *Sandbox) error
	// Stop kills the sandbox process and waits for it to exit. Stopping a
	// stopped or missing process succeeds.
	Stop(ctx context.Context, sb *Sandbox) error
	// Release deletes the stopped sandbox process, letting its shim exit;
	// the container stays for Delete. Releasing a sandbox without a
	// process succeeds.
	Release(ctx context.Context, sb *Sandbox) error
	// Delete removes every containerd object of the sandbox process.
	// Deleting a missing sandbox succeeds.
	Delete(ctx context.Context, sb *Sandbox) error
	// Running reports whether the sandbox process is alive.
	Running(ctx context.Context, sb *Sandbox) (bool, error)
	// Spec returns the OCI spec the sandbox process runs with, as
	// containerd stores it (JSON).
	Spec(ctx context.Context, sb *Sandbox) (json.RawMessage, error)
}
