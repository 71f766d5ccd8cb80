package sandbox

import (
	"context"

	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/network"
)

// The Manager's collaborators are narrow interfaces, so that the unit tests
// can run its operations (and fail them at every step) against fakes:
//
//   - podNetwork and imageEnsurer are what it uses of network.Manager and
//     image.Service; New takes those.
//   - containerd is reached only through the controller interface (the
//     pause container or a pinned sandbox's pins and shim): the tests
//     replace Manager.pause and Manager.pinned with a fake controller
//     rather than faking containerd's client, whose pause-container calls
//     the integration tests cover.
//   - The steps of a creation that are cricket's own (checkpoints, files)
//     fail in the tests through failpoint: a test sets Manager.failAt, and
//     create asks it after each step whether to fail there. Together with
//     fakes that fail or fail half way, this reaches every exit of
//     create's undo stack (see run_test.go).

// podNetwork is what sandboxes use of the pod network; *network.Manager
// implements it.
type podNetwork interface {
	Ready() error
	NetNSPath(id string) string
	NewNetNS(id string) (string, error)
	PinNetNS(id string, pid uint32) (string, error)
	RemoveNetNS(path string) error
	Attach(ctx context.Context, pod network.Pod) (*network.Attachment, error)
	Detach(ctx context.Context, pod network.Pod) error
	Collect(ctx context.Context, known map[string]bool) error
	OrphanNetNS(known map[string]bool) []string
}

// imageEnsurer is what sandboxes use of the image service: the sandbox
// image, pulled if it is missing. *image.Service implements it.
type imageEnsurer interface {
	Ensure(ctx context.Context, ref string) (*image.Image, error)
}

// failpoint returns the error a unit test injects after the named step of
// a creation (see failAt); always nil outside tests.
func (m *Manager) failpoint(step string) error {
	if m.failAt == nil {
		return nil
	}
	return m.failAt(step)
}
