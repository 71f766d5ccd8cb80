package events

import "testing"

func TestBrokerDeliversAndDropsSlowSubscribers(t *testing.T) {
	var b Broker
	fast, slow := b.Subscribe(10), b.Subscribe(2)
	for i := range 3 {
		b.Publish(Lifecycle{ID: string(rune('a' + i))})
	}
	for _, want := range []string{"a", "b", "c"} {
		if e := <-fast.C; e.ID != want || e.At.IsZero() {
			t.Fatalf("fast got %+v, want %s", e, want)
		}
	}
	// The slow one got two, then was closed on the third.
	n := 0
	for range slow.C {
		n++
	}
	if n != 2 || !slow.Overflowed() {
		t.Fatalf("slow subscriber: %d events, overflowed %v", n, slow.Overflowed())
	}
	if fast.Overflowed() {
		t.Fatal("fast subscriber dropped")
	}
	fast.Close()
	fast.Close()                  // idempotent
	b.Publish(Lifecycle{ID: "d"}) // nobody left: must not panic
}
