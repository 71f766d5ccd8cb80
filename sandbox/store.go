package sandbox

import (
	"time"

	"github.com/cricket-cri/cricket/internal/idstore"
)

// store holds the live sandboxes by ID.
type store struct{ *idstore.Store[*Sandbox] }

func newStore() store {
	return store{idstore.New("pod sandbox", func(sb *Sandbox) (string, time.Time) { return sb.ID, sb.CreatedAt })}
}
