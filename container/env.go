package container

import (
	"bytes"
	"strings"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/invalidarg"
)

// Limits on a container's environment. The kernel refuses to exec a
// process with a longer variable or a larger environment, so past them
// StartContainer could only fail.
const (
	// maxEnvVarBytes is the kernel's MAX_ARG_STRLEN (32 pages): the
	// longest "KEY=value" string, NUL included, that execve takes.
	maxEnvVarBytes = 32 * 4096
	// maxEnvBytes bounds the config's env, all "KEY=value" strings
	// together: half the 2 MiB that execve allows arguments and
	// environment (a quarter of the default 8 MiB stack), and as much as
	// an envFrom of the largest ConfigMap (1 MiB) brings.
	maxEnvBytes = 1 << 20
)

// validateEnv checks the config's env: names that execve can carry (not
// empty, no '=' that would end them early, no NUL), values without NUL
// (which would cut them short), and the sizes above.
func validateEnv(envs []*runtime.KeyValue) error {
	total := 0
	for i, kv := range envs {
		k, v := kv.GetKey(), kv.GetValue()
		switch {
		case k == "":
			return invalidarg.Errorf("config.envs[%d]: the name is empty", i)
		case strings.ContainsAny(k, "=\x00"):
			return invalidarg.Errorf("config.envs[%d]: name %q contains '=' or NUL", i, shortenPath(k))
		case bytes.IndexByte(v, 0) >= 0:
			return invalidarg.Errorf("config.envs[%d] (%s): the value contains NUL", i, shortenPath(k))
		}
		n := len(k) + 1 + len(v) + 1
		if n > maxEnvVarBytes {
			return invalidarg.Errorf("config.envs[%d] (%s) is %d bytes, more than the %d the kernel passes to a process", i, shortenPath(k), n, maxEnvVarBytes)
		}
		total += n
	}
	if total > maxEnvBytes {
		return invalidarg.Errorf("config.envs: %d variables take %d bytes, more than the %d allowed", len(envs), total, maxEnvBytes)
	}
	return nil
}
