// Package testhold lets the integration tests hold a CRI call inside
// cricketd at a named point, after the call reached the daemon, until the
// test releases it: the tests of a retry after a timeout use it to make the
// first call provably arrive and time out on the server while its work is
// under way, so that the retry meets that work (internal/reserve, the
// image pull flights) rather than starting afresh.
//
// It is off unless cricketd's environment names a directory in
// CRICKET_TEST_HOLD (the test rig sets it; nothing else should); then At
// is one comparison of a string with "". With it on, a point is held when
// the test armed it, once per arming, through files in that directory:
//
//	<point>          the test creates it to arm the point;
//	<point>.arrived  cricketd renames the first to it when a call reaches
//	                 the point, then holds the call there;
//	                 the test removes it to release the call.
//
// A held call also goes on when its context ends (an abandoned pull, a
// creation past its own timeout). The points are "RunPodSandbox" and
// "CreateContainer" (at the start of the detached creation, its name
// reserved) and "PullImage" (at the start of the shared pull).
package testhold

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Env names the directory of the hold files; unset or empty: no holds.
const Env = "CRICKET_TEST_HOLD"

var dir = os.Getenv(Env)

// pollInterval is how often a held call looks for its release.
const pollInterval = 5 * time.Millisecond

// At holds the call at point if the test armed it (see the package
// documentation), until the test releases it or ctx ends.
func At(ctx context.Context, point string) {
	if dir == "" {
		return
	}
	hold(ctx, point)
}

func hold(ctx context.Context, point string) {
	armed, arrived := filepath.Join(dir, point), filepath.Join(dir, point+".arrived")
	if err := os.Rename(armed, arrived); err != nil {
		return // not armed (or armed and taken by another call)
	}
	slog.Warn("test hold: call held", "point", point)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if _, err := os.Lstat(arrived); os.IsNotExist(err) {
			slog.Warn("test hold: call released", "point", point)
			return
		}
		select {
		case <-ctx.Done():
			slog.Warn("test hold: held call's context ended", "point", point, "error", ctx.Err())
			return
		case <-t.C:
		}
	}
}
