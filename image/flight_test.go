package image

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFlightsCollapseConcurrentCalls(t *testing.T) {
	var g flights
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	ids := make([]string, 5)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], _ = g.do(context.Background(), "k", func(context.Context) (string, error) {
				calls.Add(1)
				<-release
				return "sha256:x", nil
			})
		}()
	}
	// Wait until all five wait on the one flight, then let it finish.
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		n := 0
		if f := g.m["k"]; f != nil {
			n = f.waiters
		}
		g.mu.Unlock()
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d waiters joined", n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("fn ran %d times, want 1", calls.Load())
	}
	for _, id := range ids {
		if id != "sha256:x" {
			t.Fatalf("ids = %v", ids)
		}
	}
}

func TestFlightsCancelWhenLastWaiterLeaves(t *testing.T) {
	var g flights
	cancelled := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := g.do(ctx, "k", func(fctx context.Context) (string, error) {
		<-fctx.Done()
		close(cancelled)
		return "", fctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("abandoned flight was not cancelled")
	}
}

func TestFlightsOneWaiterLeavingDoesNotCancelOthers(t *testing.T) {
	var g flights
	started, release := make(chan struct{}), make(chan struct{})
	fn := func(fctx context.Context) (string, error) {
		close(started)
		select {
		case <-release:
			return "sha256:y", nil
		case <-fctx.Done():
			return "", fctx.Err()
		}
	}
	res := make(chan error, 1)
	go func() {
		_, err := g.do(context.Background(), "k", fn)
		res <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.do(ctx, "k", fn); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: err = %v", err)
	}
	close(release)
	if err := <-res; err != nil {
		t.Fatalf("patient waiter failed: %v", err)
	}
}
