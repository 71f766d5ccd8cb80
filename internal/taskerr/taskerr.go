// Package taskerr classifies the errors of containerd's calls on tasks and
// their processes (kill, delete, wait, status, exec start): which of them
// mean that the process is gone, and which code an error left over gets.
package taskerr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Gone reports whether err, from a containerd call on a task or one of its
// processes, means that the process no longer runs, so that a kill or a
// delete has nothing left to do but wait for the exit to be recorded:
//
//   - NotFound: containerd lists no such task, or the shim knows no such
//     process or has seen it exit ("process already finished", "container
//     not created").
//   - A closed connection to the shim ("ttrpc: closed"). containerd closes
//     its connection to a task's shim once the task is deleted (after its
//     exit: a kill racing the deletion meets it), and the connection closes
//     when the shim dies, after which containerd kills what is left of the
//     task and publishes its exit. containerd 1.6 passes the shim's error
//     on as Unknown with the message alone.
func Gone(err error) bool {
	switch {
	case err == nil:
		return false
	case errdefs.IsNotFound(err), status.Code(err) == codes.NotFound, errors.Is(err, ttrpc.ErrClosed):
		return true
	}
	return unknown(err) && strings.Contains(err.Error(), ttrpc.ErrClosed.Error())
}

// unknown reports whether err is classified Unknown: by containerd's
// client (errdefs) or as the gRPC status of a raw service call.
func unknown(err error) bool {
	s, ok := status.FromError(err)
	return errdefs.IsUnknown(err) || ok && s.Code() == codes.Unknown
}

// Classify returns err with a class that a caller can act on: an error
// containerd passes on as Unknown (a failure of the shim or the OCI
// runtime it could not classify) is Unavailable, since the call may
// succeed when retried; other errors keep their class.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	if unknown(err) {
		return fmt.Errorf("%w (%w)", err, errdefs.ErrUnavailable)
	}
	return err
}

// Create classifies an error of containerd's task creation. A runtime
// whose shim binary containerd cannot find (the cricket handler on a node
// without containerd-shim-cricket-v1 in containerd's PATH) is a
// FailedPrecondition of the node, not a failure worth retrying;
// containerd passes it on as Unknown with its message alone ("runtime ...
// binary not installed ..."). Other errors are returned as they are.
func Create(err error) error {
	if err != nil && unknown(err) && strings.Contains(err.Error(), "binary not installed") {
		return fmt.Errorf("%w: install the shim in a directory of containerd's PATH (%w)", err, errdefs.ErrFailedPrecondition)
	}
	return err
}
