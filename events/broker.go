package events

import (
	"sync"
	"time"
)

// Kind is a CRI container lifecycle event type.
type Kind int

const (
	Created Kind = iota
	Started
	Stopped
	Deleted
)

// Lifecycle is a container or sandbox lifecycle change, for kubelet's
// evented PLEG (GetContainerEvents). Object is the container or sandbox
// (the broker does not look inside).
type Lifecycle struct {
	ID        string // container or sandbox ID
	SandboxID string
	Kind      Kind
	// At is when the event was published (Publish sets it), after the
	// change was recorded: kubelet's evented PLEG discards an event older
	// than the PodSandboxStatus it last read, so an event must never carry
	// an earlier time than a status read that missed its change (not the
	// exit time, which is earlier than the exit is recorded).
	At     time.Time
	Object any
}

// Broker fans lifecycle events out to subscribers. A subscriber that falls
// behind by more than its buffer is dropped (its channel is closed and
// Overflowed reports it) rather than silently missing events; publishing
// never blocks.
type Broker struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// Subscription is one consumer's stream.
type Subscription struct {
	C          chan Lifecycle
	b          *Broker
	overflowed bool
	closed     bool
}

// Subscribe returns a subscription buffering up to buffer events.
func (b *Broker) Subscribe(buffer int) *Subscription {
	s := &Subscription{C: make(chan Lifecycle, buffer), b: b}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[*Subscription]struct{}{}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	if !s.closed {
		s.closed = true
		close(s.C)
		delete(s.b.subs, s)
	}
}

// Overflowed reports whether the subscription was dropped for falling
// behind.
func (s *Subscription) Overflowed() bool {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.overflowed
}

// Publish delivers e to every subscriber.
func (b *Broker) Publish(e Lifecycle) {
	if b == nil {
		return
	}
	e.At = time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.C <- e:
		default:
			s.overflowed = true
			s.closeLocked()
		}
	}
}
