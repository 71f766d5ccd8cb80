// Package idstore holds live objects (pods, containers) by ID, finds them
// by a unique ID prefix as crictl and critest allow, and lists them oldest
// first. Each object package wraps one Store for its own kind.
package idstore

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// Store holds objects of one kind by ID; safe for concurrent use.
type Store[T any] struct {
	kind string // "container", "pod sandbox": names the kind in errors
	key  func(T) (id string, created time.Time)

	mu sync.RWMutex
	m  map[string]T
}

// New returns an empty store for objects of kind, whose ID and creation
// time key gives.
func New[T any](kind string, key func(T) (string, time.Time)) *Store[T] {
	return &Store[T]{kind: kind, key: key, m: map[string]T{}}
}

// Add adds or replaces o.
func (s *Store[T]) Add(o T) {
	id, _ := s.key(o)
	s.mu.Lock()
	s.m[id] = o
	s.mu.Unlock()
}

// Remove removes the object with ID id, if there is one.
func (s *Store[T]) Remove(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// Get finds an object by full ID or unique ID prefix: an empty or
// ambiguous prefix is InvalidArgument, no match NotFound.
func (s *Store[T]) Get(id string) (T, error) {
	var none T
	if id == "" {
		return none, fmt.Errorf("%s ID is empty: %w", s.kind, errdefs.ErrInvalidArgument)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if o, ok := s.m[id]; ok {
		return o, nil
	}
	var match T
	found := false
	for k, o := range s.m {
		if strings.HasPrefix(k, id) {
			if found {
				return none, fmt.Errorf("%s ID prefix %q is ambiguous: %w", s.kind, id, errdefs.ErrInvalidArgument)
			}
			match, found = o, true
		}
	}
	if !found {
		return none, fmt.Errorf("%s %q: %w", s.kind, id, errdefs.ErrNotFound)
	}
	return match, nil
}

// List returns the objects keep accepts (all with a nil keep), oldest
// first.
func (s *Store[T]) List(keep func(T) bool) []T {
	s.mu.RLock()
	out := make([]T, 0, len(s.m))
	for _, o := range s.m {
		if keep == nil || keep(o) {
			out = append(out, o)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b T) int {
		_, ta := s.key(a)
		_, tb := s.key(b)
		return ta.Compare(tb)
	})
	return out
}
