package container

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
)

// store holds the live containers by ID.
type store struct {
	mu sync.RWMutex
	m  map[string]*Container
}

func newStore() *store { return &store{m: map[string]*Container{}} }

func (s *store) add(c *Container) {
	s.mu.Lock()
	s.m[c.ID] = c
	s.mu.Unlock()
}

func (s *store) remove(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// get finds a container by full ID or unique ID prefix.
func (s *store) get(id string) (*Container, error) {
	if id == "" {
		return nil, fmt.Errorf("container ID is empty: %w", errdefs.ErrInvalidArgument)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.m[id]; c != nil {
		return c, nil
	}
	var match *Container
	for k, c := range s.m {
		if strings.HasPrefix(k, id) {
			if match != nil {
				return nil, fmt.Errorf("container ID prefix %q is ambiguous: %w", id, errdefs.ErrInvalidArgument)
			}
			match = c
		}
	}
	if match == nil {
		return nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return match, nil
}

// list returns the containers, of one sandbox if sandboxID is set, oldest
// first.
func (s *store) list(sandboxID string) []*Container {
	s.mu.RLock()
	out := make([]*Container, 0, len(s.m))
	for _, c := range s.m {
		if sandboxID == "" || c.SandboxID == sandboxID {
			out = append(out, c)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}
