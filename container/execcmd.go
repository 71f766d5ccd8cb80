package container

import (
	"fmt"
	"strings"

	"github.com/cricket-cri/cricket/internal/invalidarg"
)

// Bounds of an exec's command, checked before any side effect. No command
// beyond them can run, and runc 1.1.5 hangs on some: with an executable
// name of 64 KiB, `runc exec` never returns (16 KiB fails at once with
// "executable file not found"), and the exec it holds in the pod's shim
// keeps even the deletion of the pod's containers waiting.
const (
	// maxExecName is PATH_MAX: the kernel refuses a longer path
	// (ENAMETOOLONG), so no executable has a longer name.
	maxExecName = 4096
	// maxExecCmd bounds the whole command (the sum of its arguments'
	// lengths). It is MAX_ARG_STRLEN, the kernel's limit of a single
	// argument, and the ARG_MAX of old kernels: probes and interactive
	// commands stay far below it, and a longer script fails at exec time
	// anyway when passed as one argument (sh -c).
	maxExecCmd = 128 << 10
)

// validateExecCmd checks the command of an exec.
// ValidateExecCmd is validateExecCmd for the streaming Exec, whose command
// runc runs the same way.
func ValidateExecCmd(cmd []string) error { return validateExecCmd(cmd) }

func validateExecCmd(cmd []string) error {
	if len(cmd) == 0 {
		return invalidarg.Errorf("cmd is required")
	}
	if n := len(cmd[0]); n == 0 || n > maxExecName {
		return invalidarg.Errorf("cmd[0] (the executable) is %d bytes long; it must have 1 to %d (PATH_MAX)", n, maxExecName)
	}
	total := 0
	for _, a := range cmd {
		total += len(a)
	}
	if total > maxExecCmd {
		return invalidarg.Errorf("cmd is %d bytes long (%d arguments); at most %d bytes are accepted", total, len(cmd), maxExecCmd)
	}
	return nil
}

// describeCmd quotes a command for messages, shortened: a command may be
// up to maxExecCmd long.
func describeCmd(cmd []string) string {
	const limit = 200
	s := fmt.Sprintf("%q", cmd)
	if len(s) <= limit {
		return s
	}
	return fmt.Sprintf("%s... (%d arguments)", strings.ToValidUTF8(s[:limit], ""), len(cmd))
}
