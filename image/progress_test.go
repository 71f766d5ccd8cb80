package image

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestProgressTrackerCancelsOnlyStalledTransfers(t *testing.T) {
	p := newProgressTracker(50 * time.Millisecond)
	rt := p.wrap(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("hello"))}, nil
	}))
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if !p.stalled(now.Add(time.Second)) {
		t.Error("an open, silent response must count as stalled")
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if p.stalled(now.Add(time.Hour)) {
		t.Error("with no transfer open (unpacking), nothing is stalled")
	}

	// watch cancels with a DeadlineExceeded cause.
	p2 := newProgressTracker(20 * time.Millisecond)
	p2.touch(1)
	ctx, cancel := context.WithCancelCause(context.Background())
	go p2.watch(ctx, cancel)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("stalled pull not cancelled")
	}
	if !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Errorf("cause = %v", context.Cause(ctx))
	}
}
