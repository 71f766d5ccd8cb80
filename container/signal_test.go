package container

import (
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Every CRI signal value is a signal here, and maps back to a CRI value of
// the same number (kubelet sends SIGNAL_SIGRTMINPLUS3 for SIGRTMIN+3).
func TestEveryCRISignal(t *testing.T) {
	n := 0
	for v, name := range runtime.Signal_name {
		if runtime.Signal(v) == runtime.Signal_SIGNAL_RUNTIME_DEFAULT {
			continue
		}
		n++
		num, err := signalOf(runtime.Signal(v))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		back := toCRISignal(num)
		if again, _ := signalOf(back); again != num {
			t.Errorf("%s = %d maps back to %s = %d", name, num, back, again)
		}
		if p, err := parseSignal(signalName(num)); err != nil || p != num {
			t.Errorf("%s: recorded as %q, read back as %d, %v", name, signalName(num), p, err)
		}
	}
	if n != 65 {
		t.Errorf("%d CRI signals, want 65", n)
	}
	for _, bad := range []runtime.Signal{runtime.Signal_SIGNAL_RUNTIME_DEFAULT, runtime.Signal(99), runtime.Signal(-1)} {
		if _, err := signalOf(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("signalOf(%d) = %v, want InvalidArgument", bad, err)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"SIGTERM": syscall.SIGTERM, "TERM": syscall.SIGTERM, "term": syscall.SIGTERM, "15": syscall.SIGTERM,
		"SIGRTMIN+3": 37, "RTMIN+3": 37, "SIGRTMAX-1": 63, "SIGRTMAX": 64, "SIGIOT": syscall.SIGABRT,
		"SIGCLD": syscall.SIGCHLD, "SIGPOLL": syscall.SIGIO, "SIGNAL_SIGQUIT": syscall.SIGQUIT,
		"SIGNAL_SIGRTMINPLUS3": 37, "SIGNAL_SIGRTMAXMINUS14": 50,
	} {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "65", "-1", "SIGFOO", "RTMIN+99", "SIGNAL_"} {
		if got, err := parseSignal(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("parseSignal(%q) = %d, %v; want InvalidArgument", bad, got, err)
		}
	}
	if got := toCRISignal(37); got != runtime.Signal_SIGNAL_SIGRTMINPLUS3 {
		t.Errorf("toCRISignal(37) = %s", got)
	}
	if got := signalName(37); got != "SIGRTMIN+3" {
		t.Errorf("signalName(37) = %q", got)
	}
}
