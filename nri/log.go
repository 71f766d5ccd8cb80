package nri

import (
	"context"
	"fmt"
	"log/slog"
)

// logger writes the library's log lines (plugins registering, failing,
// being disconnected; each names the plugin) to cricketd's log.
type logger struct{ l *slog.Logger }

func (g logger) Debugf(ctx context.Context, format string, args ...any) {
	g.l.Log(ctx, slog.LevelDebug, fmt.Sprintf(format, args...))
}

func (g logger) Infof(ctx context.Context, format string, args ...any) {
	g.l.Log(ctx, slog.LevelInfo, fmt.Sprintf(format, args...))
}

func (g logger) Warnf(ctx context.Context, format string, args ...any) {
	g.l.Log(ctx, slog.LevelWarn, fmt.Sprintf(format, args...))
}

func (g logger) Errorf(ctx context.Context, format string, args ...any) {
	g.l.Log(ctx, slog.LevelError, fmt.Sprintf(format, args...))
}
