package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// firstCallDeadline is the deadline of a first call that is held in
// cricketd until it passes: long enough for the call to reach its hold
// point on a loaded machine, short enough not to slow the tests much.
const firstCallDeadline = 2 * time.Second

// timeOutWhileHeld makes the first call of a retry test (call, run with a
// deadline of firstCallDeadline) reach the armed hold point h, stay held
// there past its deadline and fail with DeadlineExceeded. It checks that
// the call was still under way when it reached the point, and that
// cricketd itself failed it (its failed-call log line for rpc, with the
// attributes and words attrs), so that a retry meets the first call's work
// in cricketd. The work stays held until the caller releases h.
func timeOutWhileHeld(t *testing.T, d *testrig.Daemon, h *testrig.Hold, rpc string, call func(context.Context) error, attrs ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), firstCallDeadline)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- call(ctx) }()
	h.Arrived(firstCallDeadline + 10*time.Second)
	select {
	case err := <-errc:
		t.Fatalf("the first %s returned (%v) before it reached cricketd's hold point: it did not arrive within its %s", rpc, err, firstCallDeadline)
	default:
	}
	err := <-errc
	if codeOf(err) != codes.DeadlineExceeded {
		t.Fatalf("first %s: %v, want DeadlineExceeded", rpc, err)
	}
	if !h.IsHeld() {
		t.Fatalf("the first %s's work was released before its deadline", rpc)
	}
	// The server's context ends with the deadline, or with the client's
	// cancellation when that comes first.
	want := append([]string{`msg="CRI call failed"`, "rpc=" + rpc + " "}, attrs...)
	waitFor(t, 10*time.Second, "cricketd's DeadlineExceeded for the first "+rpc, func() bool { return logLineWith(d, want...) },
		func() string { return "log lines with " + strings.Join(want, ", ") })
	return err
}

// logLineWith reports whether one line of the daemon's log contains all
// of subs.
func logLineWith(d *testrig.Daemon, subs ...string) bool {
	for line := range strings.Lines(d.Log()) {
		found := true
		for _, s := range subs {
			if !strings.Contains(line, s) {
				found = false
				break
			}
		}
		if found {
			return true
		}
	}
	return false
}
