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

// gate reports whether a step of start-up that pods and containers wait
// for (state recovery, NRI) has finished and, until it has, what it waits
// for.
type gate struct {
	mu   sync.Mutex
	open bool
	// what the step does, and what its first attempt waits for.
	what, first string
	// waitingFor is the last reason an attempt failed; empty while the
	// first attempt runs.
	waitingFor string
}

func newGate() *gate {
	return &gate{what: "restoring its pods and containers", first: "reading checkpoints and containerd's state"}
}

// Err is nil once recovery finished, else an Unavailable error.
func (g *gate) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return nil
	}
	why := g.waitingFor
	if why == "" {
		why = g.first
	}
	return fmt.Errorf("cricket is still %s (%s): %w", g.what, why, errdefs.ErrUnavailable)
}

// wait records why the last recovery attempt did not finish.
func (g *gate) wait(err error) {
	g.mu.Lock()
	g.waitingFor = err.Error()
	g.mu.Unlock()
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
			if err != nil {
				return fmt.Errorf("waiting for containerd: %w", err)
			}
			if !serving {
				return errors.New("waiting for containerd: not serving yet")
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
		g.wait(err)
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
