package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

// gate reports whether state recovery has finished.
type gate struct {
	mu   sync.Mutex
	open bool
}

func newGate() *gate { return &gate{} }

// Err is nil once recovery finished, else an Unavailable error.
func (g *gate) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return nil
	}
	return fmt.Errorf("cricket is still restoring its pods and containers (waiting for containerd): %w", errdefs.ErrUnavailable)
}

func (g *gate) release() {
	g.mu.Lock()
	g.open = true
	g.mu.Unlock()
}

// recoverWhenReachable waits until containerd answers, then runs the
// recovery steps in order, retrying (with backoff) until they all succeed
// or ctx ends, and opens the gate.
func recoverWhenReachable(ctx context.Context, c *client.Client, log *slog.Logger, g *gate, steps ...func(context.Context) error) {
	backoff := 100 * time.Millisecond
	warned := false
	for ctx.Err() == nil {
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			serving, err := c.IsServing(cctx)
			cancel()
			if err != nil || !serving {
				return errors.Join(errors.New("containerd not serving"), err)
			}
			for _, step := range steps {
				if err := step(ctx); err != nil {
					return err
				}
			}
			return nil
		}()
		if err == nil {
			g.release()
			log.Info("state recovered; serving pods and containers")
			return
		}
		if !warned || backoff >= 5*time.Second {
			log.Warn("state recovery waiting", "error", err, "retry_in", backoff)
			warned = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
