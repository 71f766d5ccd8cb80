// Package invalidarg makes the errors of requests that fail validation:
// errdefs InvalidArgument, which the CRI server returns as that gRPC code.
package invalidarg

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// Errorf formats an error that says what is wrong with a request (naming
// the field) and is classified errdefs.ErrInvalidArgument.
func Errorf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}
