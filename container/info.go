package container

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Info is the verbose status of a container.
type Info struct {
	SandboxID   string      `json:"sandboxID"`
	PID         uint32      `json:"pid"`
	ImageID     string      `json:"imageID"`
	Dir         string      `json:"stateDir"`
	StopSignal  string      `json:"stopSignal"`
	RuntimeSpec *specs.Spec `json:"runtimeSpec,omitempty"`
}

// Info gathers a container's verbose status.
func (m *Manager) Info(ctx context.Context, c *Container) *Info {
	st := c.Status()
	info := &Info{SandboxID: c.SandboxID, PID: st.PID, ImageID: c.ImageID, Dir: c.Dir, StopSignal: c.StopSignal}
	if ctr, err := m.client.LoadContainer(m.ctx(ctx), c.ID); err == nil {
		if s, err := ctr.Spec(m.ctx(ctx)); err == nil {
			info.RuntimeSpec = s
		}
	}
	return info
}
