package testrig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Hold is an armed hold point of a daemon started with Holds (see package
// testhold): the next call to reach the point waits there until Release.
type Hold struct {
	tb    testing.TB
	point string
	armed string
}

// Hold arms point (e.g. "RunPodSandbox") for the next call that reaches
// it. The hold is released at the end of the test if the test did not.
func (d *Daemon) Hold(tb testing.TB, point string) *Hold {
	tb.Helper()
	if d.holdDir == "" {
		tb.Fatalf("hold %s: the daemon was started without Holds", point)
	}
	h := &Hold{tb: tb, point: point, armed: filepath.Join(d.holdDir, point)}
	if err := os.WriteFile(h.armed, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Release)
	return h
}

// Arrived waits until a call reached the point and is held there (it
// fails the test after timeout).
func (h *Hold) Arrived(timeout time.Duration) {
	h.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Lstat(h.armed + ".arrived"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			h.tb.Fatalf("no call reached hold point %s within %s", h.point, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// IsHeld reports whether a call is held at the point now.
func (h *Hold) IsHeld() bool {
	_, err := os.Lstat(h.armed + ".arrived")
	return err == nil
}

// Release lets the held call go on, and disarms the point if no call
// reached it.
func (h *Hold) Release() {
	// Disarmed first: a call that takes the point in between is then
	// released by the second removal.
	for _, p := range []string{h.armed, h.armed + ".arrived"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			h.tb.Error(err)
		}
	}
}
