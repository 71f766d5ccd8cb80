package listbudget

import (
	"sync"
	"testing"

	"github.com/containerd/errdefs"
)

func TestReserveReleaseAndTake(t *testing.T) {
	b := New(100)
	a, err := b.Reserve("pod a", 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve("pod b", 41); !errdefs.IsResourceExhausted(err) {
		t.Fatalf("reserving past the limit: %v, want ResourceExhausted", err)
	}
	if b.Used() != 60 {
		t.Fatalf("a refused reservation took bytes: used %d", b.Used())
	}
	a.Release()
	a.Release() // once only
	if b.Used() != 0 {
		t.Fatalf("after release used %d, want 0", b.Used())
	}
	over := b.Take(150)
	if b.Used() != 150 {
		t.Fatalf("Take: used %d, want 150", b.Used())
	}
	if _, err := b.Reserve("pod c", 1); !errdefs.IsResourceExhausted(err) {
		t.Fatalf("reserving with the budget overdrawn: %v", err)
	}
	over.Release()
	var none *Budget
	c, err := none.Reserve("pod", 1<<40)
	if err != nil {
		t.Fatalf("a nil budget refused: %v", err)
	}
	c.Release()
}

// TestConcurrentReservationsNeverOverdraw: racing reservations together
// never take more than the limit.
func TestConcurrentReservationsNeverOverdraw(t *testing.T) {
	b := New(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 100 {
		wg.Go(func() {
			if _, err := b.Reserve("x", 30); err == nil {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if granted != 33 || b.Used() != 990 {
		t.Fatalf("granted %d, used %d; want 33 and 990", granted, b.Used())
	}
}
