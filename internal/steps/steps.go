// Package steps times the steps of one operation (the pod and container
// start paths) and logs them as one debug line: cricket's own trace of
// where the time goes, cheap enough to stay on.
package steps

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Timer records consecutive steps of an operation.
type Timer struct {
	op    string
	start time.Time
	last  time.Time
	parts []string
}

// Start begins timing op.
func Start(op string) *Timer {
	now := time.Now()
	return &Timer{op: op, start: now, last: now}
}

// Step ends the current step, naming it.
func (t *Timer) Step(name string) {
	now := time.Now()
	t.parts = append(t.parts, name+"="+now.Sub(t.last).Round(10*time.Microsecond).String())
	t.last = now
}

// Done logs the steps at debug level, with the object they concern.
func (t *Timer) Done(log *slog.Logger, attrs ...any) {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	log.Debug(t.op+" steps", append(attrs, "total", time.Since(t.start).Round(10*time.Microsecond).String(), "steps", strings.Join(t.parts, " "))...)
}
