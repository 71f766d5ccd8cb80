package container

import (
	"time"

	"github.com/cricket-cri/cricket/internal/idstore"
)

// store holds the live containers by ID.
type store struct{ *idstore.Store[*Container] }

func newStore() store {
	return store{idstore.New("container", func(c *Container) (string, time.Time) { return c.ID, c.CreatedAt })}
}

// list returns the containers, of one sandbox if sandboxID is set, oldest
// first.
func (s store) list(sandboxID string) []*Container {
	return s.List(func(c *Container) bool { return sandboxID == "" || c.SandboxID == sandboxID })
}
