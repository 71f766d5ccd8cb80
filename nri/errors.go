package nri

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/status"
)

// failed makes a plugin's failure to handle event cricket's error: it names
// the plugin and the event, and is Unavailable when a plugin did not
// answer (a timeout or a lost connection: the library fails the call for
// that only under the plugin's fail_request policy, and otherwise goes on
// without the plugin), FailedPrecondition when plugins refused (an error
// a plugin returned, adjustments of two plugins that conflict, a
// validator's rejection).
func (n *NRI) failed(event string, err error) error {
	// An error a plugin returned comes as a ttrpc status: its message is
	// the plugin's, without the status's prefix.
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
	}
	var class error = errdefs.ErrFailedPrecondition
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ttrpc.ErrClosed) {
		class = errdefs.ErrUnavailable
	}
	plugin := n.blame.plugin(err)
	if plugin == "" || strings.Contains(msg, plugin) {
		// The library's own errors name the plugins.
		return fmt.Errorf("NRI %s: %s: %w", event, msg, class)
	}
	return fmt.Errorf("NRI plugin %q failed %s: %s: %w", plugin, event, msg, class)
}
