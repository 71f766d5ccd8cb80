package tracing

import (
	"log/slog"
	"sync"
	"time"
)

// errorEvery is how often a failing export is logged: a collector that is
// down fails every batch (one every few seconds under load), which would
// otherwise drown cricketd's log.
const errorEvery = time.Minute

// errorLog is OpenTelemetry's error handler while tracing is on: SDK and
// exporter errors (mostly failed exports) go to cricketd's log, at most
// once per errorEvery, with the count of those left out.
type errorLog struct {
	log      *slog.Logger
	endpoint string

	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (e *errorLog) Handle(err error) {
	e.mu.Lock()
	now := time.Now()
	if now.Sub(e.last) < errorEvery {
		e.skipped++
		e.mu.Unlock()
		return
	}
	e.last = now
	skipped := e.skipped
	e.skipped = 0
	e.mu.Unlock()
	e.log.Warn("tracing: spans not exported (spans are dropped, CRI calls are not affected)",
		"endpoint", e.endpoint, "error", err, "errors_not_logged", skipped)
}
