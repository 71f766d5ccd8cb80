// Package listbudget bounds what the live pods and containers together
// add to the CRI's list, status and event responses.
//
// ListContainers, ListPodSandbox, ListContainerStats, PodSandboxStatus
// and every GetContainerEvents message repeat the labels, annotations and
// metadata of many objects at once, and a response larger than the gRPC
// message limit (16 MiB, kubelet's too) cannot be sent at all: one such
// response fails for every client, and an event stream that cannot send
// ends. Limits per object (see sandbox.ValidateLabels) keep one object
// from doing that; this budget keeps many from doing it together. Each
// pod and container takes its share when it is created and returns it
// when it is removed; a creation that would pass the budget is refused
// with ResourceExhausted, and what exists keeps being listable.
package listbudget

import (
	"fmt"
	"sync"

	"github.com/containerd/errdefs"
)

// Budget is the bytes that objects may take; safe for concurrent use. A
// nil Budget has no limit.
type Budget struct {
	limit int64

	mu   sync.Mutex
	used int64
}

// New returns a budget of limit bytes.
func New(limit int64) *Budget { return &Budget{limit: limit} }

// Charge is one object's share of a budget.
type Charge struct {
	b    *Budget
	n    int64
	once sync.Once
}

// Reserve takes n bytes for what (a pod or container, for the error
// message), or fails with ResourceExhausted if they are not left.
func (b *Budget) Reserve(what string, n int64) (*Charge, error) {
	if b == nil {
		return nil, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return nil, fmt.Errorf("%s would add %d bytes of labels, annotations and other metadata to responses that already carry %d of the %d bytes that fit in every list, status and event response; remove pods or containers, or give them less metadata: %w",
			what, n, b.used, b.limit, errdefs.ErrResourceExhausted)
	}
	b.used += n
	return &Charge{b: b, n: n}, nil
}

// Take takes n bytes even past the limit: for objects that exist already
// (restored after a restart), which no budget can refuse.
func (b *Budget) Take(n int64) *Charge {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
	return &Charge{b: b, n: n}
}

// Used returns the bytes taken.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Release returns the share to its budget; later calls, and a nil Charge,
// do nothing.
func (c *Charge) Release() {
	if c == nil {
		return
	}
	c.once.Do(func() {
		c.b.mu.Lock()
		c.b.used -= c.n
		c.b.mu.Unlock()
	})
}
