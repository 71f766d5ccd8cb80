package sandbox

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
)

// store holds the live sandboxes by ID.
type store struct {
	mu sync.RWMutex
	m  map[string]*Sandbox
}

func newStore() *store { return &store{m: map[string]*Sandbox{}} }

func (s *store) add(sb *Sandbox) {
	s.mu.Lock()
	s.m[sb.ID] = sb
	s.mu.Unlock()
}

func (s *store) remove(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// get finds a sandbox by full ID or unique ID prefix.
func (s *store) get(id string) (*Sandbox, error) {
	if id == "" {
		return nil, fmt.Errorf("sandbox ID is empty: %w", errdefs.ErrInvalidArgument)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sb := s.m[id]; sb != nil {
		return sb, nil
	}
	var match *Sandbox
	for k, sb := range s.m {
		if strings.HasPrefix(k, id) {
			if match != nil {
				return nil, fmt.Errorf("sandbox ID prefix %q is ambiguous: %w", id, errdefs.ErrInvalidArgument)
			}
			match = sb
		}
	}
	if match == nil {
		return nil, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return match, nil
}

// list returns all sandboxes, oldest first.
func (s *store) list() []*Sandbox {
	s.mu.RLock()
	out := make([]*Sandbox, 0, len(s.m))
	for _, sb := range s.m {
		out = append(out, sb)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}
