package container

import (
	"context"
	"encoding/json"
)

// Info is the verbose status of a container.
type Info struct {
	SandboxID  string `json:"sandboxID"`
	PID        uint32 `json:"pid"`
	ImageID    string `json:"imageID"`
	Dir        string `json:"stateDir"`
	StopSignal string `json:"stopSignal"`
	// RuntimeSpec is the OCI spec as containerd stores it (its JSON, as
	// it was sent), absent when it cannot be read.
	RuntimeSpec json.RawMessage `json:"runtimeSpec,omitempty"`
}

// Info gathers a container's verbose status from memory: the spec is the
// one kept from the container's creation or last update, and is read from
// containerd (once) only when cricketd does not hold it, after a restart.
func (m *Manager) Info(ctx context.Context, c *Container) *Info {
	st := c.Status()
	return &Info{SandboxID: c.SandboxID, PID: st.PID, ImageID: c.ImageID, Dir: c.Dir, StopSignal: c.StopSignal,
		RuntimeSpec: m.storedSpec(ctx, c)}
}

// storedSpec returns the container's spec as containerd stores it, nil
// when it cannot be read. A spec read from containerd is kept unless an
// update replaced it meanwhile.
func (m *Manager) storedSpec(ctx context.Context, c *Container) json.RawMessage {
	c.mu.Lock()
	s := c.spec
	c.mu.Unlock()
	if s != nil {
		return s
	}
	cc, err := m.client.ContainerService().Get(m.ctx(ctx), c.ID)
	if err != nil || cc.Spec == nil {
		return nil
	}
	s = cc.Spec.GetValue()
	c.mu.Lock()
	if c.spec == nil {
		c.spec = s
	}
	c.mu.Unlock()
	return s
}
