package daemon

import (
	"io"
	"log/slog"

	clog "github.com/containerd/log"
	"github.com/sirupsen/logrus"

	"github.com/cricket-cri/cricket/config"
)

// newLogger returns cricketd's logger. Its level is the running config's
// log_level, read for every line, so a reload changes it at once; the
// format (log_format) is fixed at start-up.
func newLogger(live *config.Live, out io.Writer) *slog.Logger {
	clog.L.Logger.SetOutput(out)
	applyClientLogLevel(live.Get().LogLevel)
	opts := &slog.HandlerOptions{Level: liveLevel{live}}
	if live.Get().LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

// liveLevel is the running config's log_level as slog's level.
type liveLevel struct{ live *config.Live }

func (l liveLevel) Level() slog.Level {
	switch l.live.Get().LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// applyClientLogLevel sets the level of containerd's client libraries,
// which log through logrus (a global with no accessor to read from):
// their chatter (every registry fallback, every 404) is for debug level.
func applyClientLogLevel(level string) {
	if level == "debug" {
		clog.L.Logger.SetLevel(logrus.DebugLevel)
	} else {
		clog.L.Logger.SetLevel(logrus.WarnLevel)
	}
}
