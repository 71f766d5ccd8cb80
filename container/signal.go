package container

import (
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/signal"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/invalidarg"
)

// signalOf maps a CRI signal to its number. The CRI spells real-time
// signals SIGNAL_SIGRTMINPLUS3 and SIGNAL_SIGRTMAXMINUS1, and has the
// aliases SIGCLD, SIGIOT and SIGPOLL: all 65 values are signals here.
func signalOf(sig runtime.Signal) (syscall.Signal, error) {
	name := strings.TrimPrefix(sig.String(), "SIGNAL_")
	name = strings.NewReplacer("PLUS", "+", "MINUS", "-").Replace(name)
	if _, known := runtime.Signal_name[int32(sig)]; !known || sig == runtime.Signal_SIGNAL_RUNTIME_DEFAULT {
		return 0, invalidarg.Errorf("stop_signal %d is not a CRI signal", int32(sig))
	}
	n, err := parseSignal(name)
	if err != nil {
		return 0, invalidarg.Errorf("stop_signal %s is not a signal of this platform", sig)
	}
	return n, nil
}

// parseSignal reads a signal as images (STOPSIGNAL) and checkpoints spell
// it: "SIGTERM", "TERM", "15", "SIGRTMIN+3", "RTMIN+3", and the CRI's
// "SIGNAL_SIGTERM" of checkpoints written by earlier versions.
func parseSignal(s string) (syscall.Signal, error) {
	name := s
	if rest, ok := strings.CutPrefix(name, "SIGNAL_"); ok {
		name = strings.NewReplacer("PLUS", "+", "MINUS", "-").Replace(rest)
	}
	n, err := signal.ParseSignal(name)
	if err != nil || !signal.ValidSignalForPlatform(n) {
		return 0, fmt.Errorf("%q is not a signal of this platform: %w", s, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

// criSignals maps signal numbers to their CRI value, the first of the
// CRI's aliases (SIGABRT, not SIGIOT).
var criSignals = sync.OnceValue(func() map[syscall.Signal]runtime.Signal {
	m := map[syscall.Signal]runtime.Signal{}
	for v := int32(1); ; v++ {
		if _, ok := runtime.Signal_name[v]; !ok {
			return m
		}
		if n, err := signalOf(runtime.Signal(v)); err == nil {
			if _, seen := m[n]; !seen {
				m[n] = runtime.Signal(v)
			}
		}
	}
})

// toCRISignal is the CRI value of a signal number; RUNTIME_DEFAULT for
// one the CRI has no name for (32 and 33, which the C library reserves).
func toCRISignal(n syscall.Signal) runtime.Signal {
	return criSignals()[n]
}

// signalName is the name cricket records for a signal: "SIGTERM",
// "SIGRTMIN+3", or the number when the CRI has no name for it.
func signalName(n syscall.Signal) string {
	v := toCRISignal(n)
	if v == runtime.Signal_SIGNAL_RUNTIME_DEFAULT {
		return fmt.Sprint(int(n))
	}
	return strings.NewReplacer("PLUS", "+", "MINUS", "-").Replace(strings.TrimPrefix(v.String(), "SIGNAL_"))
}

// StopSignalCRI is the signal StopContainer sends first, as a CRI value
// (ContainerStatus reports the signal in effect, not the config's
// RUNTIME_DEFAULT).
func (c *Container) StopSignalCRI() runtime.Signal {
	n, err := parseSignal(c.StopSignal)
	if err != nil {
		return runtime.Signal_SIGNAL_RUNTIME_DEFAULT
	}
	return toCRISignal(n)
}
