package image

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// progressTracker watches the HTTP traffic of one pull and cancels the pull
// when requests are open but no bytes arrive for the timeout. Time spent
// unpacking, with no request open, does not count as a stall.
type progressTracker struct {
	timeout time.Duration

	mu       sync.Mutex
	active   int
	lastSeen time.Time
	bytes    int64
}

func newProgressTracker(timeout time.Duration) *progressTracker {
	return &progressTracker{timeout: timeout, lastSeen: time.Now()}
}

func (p *progressTracker) touch(delta int) {
	p.mu.Lock()
	p.active += delta
	p.lastSeen = time.Now()
	p.mu.Unlock()
}

// stalled reports whether requests are open and silent for the timeout.
func (p *progressTracker) stalled(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active > 0 && now.Sub(p.lastSeen) > p.timeout
}

// watch cancels the pull through cancel when it stalls, until ctx ends.
func (p *progressTracker) watch(ctx context.Context, cancel context.CancelCauseFunc) {
	if p.timeout <= 0 {
		return
	}
	tick := time.NewTicker(min(p.timeout/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if p.stalled(now) {
				cancel(fmt.Errorf("image pull made no progress for %s (image_pull_progress_timeout): %w", p.timeout, context.DeadlineExceeded))
				return
			}
		}
	}
}

// wrap returns a transport that reports request and body activity.
func (p *progressTracker) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		p.touch(1)
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.Body == nil {
			p.touch(-1)
			return resp, err
		}
		resp.Body = &trackedBody{ReadCloser: resp.Body, p: p}
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type trackedBody struct {
	io.ReadCloser
	p      *progressTracker
	closed sync.Once
}

func (b *trackedBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	if n > 0 {
		b.p.mu.Lock()
		b.p.bytes += int64(n)
		b.p.lastSeen = time.Now()
		b.p.mu.Unlock()
	}
	if err != nil {
		b.done()
	}
	return n, err
}

func (b *trackedBody) Close() error {
	b.done()
	return b.ReadCloser.Close()
}

func (b *trackedBody) done() { b.closed.Do(func() { b.p.touch(-1) }) }
