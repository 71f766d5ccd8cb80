package image

import (
	"context"
	"sync"
)

// keyLocks is a mutex per key, shared by every pull: the unpacker's
// duplication suppressor, so that two pulls never fetch or unpack one blob
// or one snapshot at the same time (the second finds the first's result).
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch      chan struct{} // holds a token while locked
	waiters int
}

func newKeyLocks() *keyLocks { return &keyLocks{locks: map[string]*keyLock{}} }

// Lock takes key's lock, or fails when ctx ends first.
func (k *keyLocks) Lock(ctx context.Context, key string) error {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.waiters++
	k.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		k.release(key, l)
		return ctx.Err()
	}
}

// Unlock releases key's lock.
func (k *keyLocks) Unlock(key string) {
	k.mu.Lock()
	l := k.locks[key]
	k.mu.Unlock()
	if l == nil {
		return
	}
	<-l.ch
	k.release(key, l)
}

func (k *keyLocks) release(key string, l *keyLock) {
	k.mu.Lock()
	l.waiters--
	if l.waiters == 0 {
		delete(k.locks, key)
	}
	k.mu.Unlock()
}
