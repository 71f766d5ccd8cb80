// Package reserve reserves CRI object names (a pod's or container's
// metadata) for the object being created under them, and keeps the result
// of a creation whose caller gave up.
//
// kubelet calls RunPodSandbox and CreateContainer with a deadline and
// retries with the same name after a timeout. A creation therefore runs
// detached from its caller: when the caller's deadline passes, the creation
// still finishes (or cleans up after itself), and the retry receives the
// object that was created instead of a second one or an "already exists"
// error that never clears. This is the idea of CRI-O's resource store.
package reserve

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// CreateTimeout bounds a detached creation.
const CreateTimeout = 4 * time.Minute

// Names maps reserved names to the objects that hold them.
type Names struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	id      string
	done    chan struct{} // closed when the creation finished
	err     error
	claimed bool // some caller has received the result
}

// Create runs create(ctx, id) for name with a new id from newID, unless the
// name is taken. If a creation under name is still running, Create waits for
// it and returns its result; if one finished but its caller never received
// the result, Create returns that object's id. Otherwise a taken name is an
// AlreadyExists error naming the holder. A failed creation frees the name.
func (n *Names) Create(ctx context.Context, name string, newID func() string, create func(ctx context.Context, id string) error) (string, error) {
	n.mu.Lock()
	if n.m == nil {
		n.m = map[string]*entry{}
	}
	e := n.m[name]
	if e == nil {
		e = &entry{id: newID(), done: make(chan struct{})}
		n.m[name] = e
		n.mu.Unlock()
		go n.run(ctx, name, e, create)
	} else {
		n.mu.Unlock()
	}

	select {
	case <-e.done:
	case <-ctx.Done():
		return "", fmt.Errorf("%w (creation of %q continues in the background; retry to receive it)", ctx.Err(), name)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.err != nil {
		return "", e.err
	}
	if e.claimed {
		if n.m[name] != e {
			// The holder was removed while we waited: the name is free,
			// but this caller raced it; let the caller retry.
			return "", fmt.Errorf("name %q was released while waiting: %w", name, errdefs.ErrAborted)
		}
		return "", fmt.Errorf("name %q is reserved for %s: %w", name, e.id, errdefs.ErrAlreadyExists)
	}
	e.claimed = true
	return e.id, nil
}

func (n *Names) run(ctx context.Context, name string, e *entry, create func(context.Context, string) error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CreateTimeout)
	defer cancel()
	err := create(cctx, e.id)
	n.mu.Lock()
	e.err = err
	if err != nil && n.m[name] == e {
		delete(n.m, name)
	}
	close(e.done)
	n.mu.Unlock()
}

// Reserve records that id holds name (for objects recovered at start-up).
func (n *Names) Reserve(name, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[string]*entry{}
	}
	if e := n.m[name]; e != nil && e.id != id {
		return fmt.Errorf("name %q is reserved for %s: %w", name, e.id, errdefs.ErrAlreadyExists)
	}
	done := make(chan struct{})
	close(done)
	n.m[name] = &entry{id: id, done: done, claimed: true}
	return nil
}

// Release frees name if id holds it.
func (n *Names) Release(name, id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.m[name]; e != nil && e.id == id {
		delete(n.m, name)
	}
}
