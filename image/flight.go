package image

import (
	"context"
	"sync"
)

// flights collapses concurrent pulls of one reference into one pull. The
// shared pull runs detached from any single caller and is cancelled only when
// every caller waiting for it has gone (deadline or cancel), so one impatient
// caller cannot fail the others, and an abandoned pull does not run on.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done    chan struct{}
	id      string
	err     error
	waiters int
	cancel  context.CancelFunc
}

func (g *flights) do(ctx context.Context, key string, fn func(context.Context) (string, error)) (string, error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	f := g.m[key]
	if f == nil {
		// Detached from the caller's cancellation but keeping its values
		// (logger, trace); cancelled when the last waiter leaves.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		g.m[key] = f
		go func() {
			f.id, f.err = fn(fctx)
			cancel()
			g.mu.Lock()
			if g.m[key] == f {
				delete(g.m, key)
			}
			g.mu.Unlock()
			close(f.done)
		}()
	}
	f.waiters++
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.id, f.err
	case <-ctx.Done():
		g.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
			if g.m[key] == f {
				delete(g.m, key) // a new caller starts afresh
			}
		}
		g.mu.Unlock()
		return "", ctx.Err()
	}
}
