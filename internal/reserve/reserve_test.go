package reserve

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func ids() func() string {
	var n atomic.Int32
	return func() string { return "id" + strconv.Itoa(int(n.Add(1))) }
}

func TestSecondCreateOfATakenNameFails(t *testing.T) {
	var n Names
	newID := ids()
	ok := func(context.Context, string) error { return nil }
	id, err := n.Create(context.Background(), "pod", newID, ok)
	if err != nil || id != "id1" {
		t.Fatal(id, err)
	}
	_, err = n.Create(context.Background(), "pod", newID, ok)
	if !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), "id1") {
		t.Fatalf("err = %v, want AlreadyExists naming id1", err)
	}
	n.Release("pod", "id1")
	if id, err := n.Create(context.Background(), "pod", newID, ok); err != nil || id == "id1" {
		t.Fatal(id, err)
	}
}

func TestFailedCreateFreesTheName(t *testing.T) {
	var n Names
	boom := errors.New("boom")
	if _, err := n.Create(context.Background(), "c", ids(), func(context.Context, string) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := n.Create(context.Background(), "c", ids(), func(context.Context, string) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// A caller that times out leaves the creation running; the retry receives
// the object it created, and creation ran exactly once.
func TestRetryAfterTimeoutReceivesTheObject(t *testing.T) {
	var n Names
	var runs atomic.Int32
	release := make(chan struct{})
	slow := func(ctx context.Context, id string) error {
		runs.Add(1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := n.Create(ctx, "pod", ids(), slow); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first call: %v", err)
	}
	// Retry while still running: it waits and gets the object.
	got := make(chan string)
	go func() {
		id, err := n.Create(context.Background(), "pod", ids(), slow)
		if err != nil {
			t.Error(err)
		}
		got <- id
	}()
	close(release)
	if id := <-got; id != "id1" {
		t.Fatalf("retry got %q", id)
	}
	if runs.Load() != 1 {
		t.Fatalf("created %d times", runs.Load())
	}

	// Finished-but-unclaimed: a later retry claims it.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	var m Names
	done := make(chan struct{})
	_, err := m.Create(ctx2, "x", ids(), func(context.Context, string) error { close(done); return nil })
	if err == nil {
		t.Fatal("cancelled caller got a result")
	}
	<-done
	if id, err := m.Create(context.Background(), "x", ids(), nil); err != nil || id != "id1" {
		t.Fatalf("claim: %q %v", id, err)
	}
}
