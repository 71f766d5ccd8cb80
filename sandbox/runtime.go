package sandbox

import (
	"fmt"
	"slices"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/errdefs"

	"github.com/cricket-cri/cricket/config"
)

// Runtime is a resolved runtime handler. A pod resolves its handler once,
// when it is created, and keeps the result (Sandbox.Runtime, also in its
// checkpoint): a reload that changes or removes the handler changes what
// new pods get, never the runtime of a pod's next container, which must
// share the pod's shim.
type Runtime struct {
	// Handler is the name the pod asked for ("" for the default).
	Handler string
	Type    string
	Options *runcoptions.Options
}

// ResolveRuntime maps a CRI runtime handler name to a runtime configured
// now; the empty name is the default handler.
func (m *Manager) ResolveRuntime(handler string) (Runtime, error) {
	return m.resolveRuntime(m.opts.Config.Get(), handler)
}

func (m *Manager) resolveRuntime(cfg *config.Config, handler string) (Runtime, error) {
	name := handler
	if name == "" {
		name = cfg.DefaultRuntime
	}
	rt, ok := cfg.Runtimes[name]
	if !ok {
		return Runtime{}, fmt.Errorf("runtime handler %q is not configured (see [runtimes] in the config): %w", handler, errdefs.ErrInvalidArgument)
	}
	return Runtime{
		Handler: handler,
		Type:    rt.Type,
		Options: &runcoptions.Options{
			BinaryName:    rt.BinaryName,
			Root:          rt.Root,
			SystemdCgroup: rt.SystemdCgroup || m.opts.SystemdCgroup,
		},
	}, nil
}

// Handler is a runtime handler as Status lists it.
type Handler struct {
	// Name is the handler's name; "" is the default handler.
	Name     string
	Features Features
}

// Handlers lists the runtime handlers configured now, the default one
// (named "") first and then the others by name, all from one
// configuration even while a reload swaps it.
func (m *Manager) Handlers() []Handler {
	cfg := m.opts.Config.Get()
	names := make([]string, 0, len(cfg.Runtimes)+1)
	for name := range cfg.Runtimes {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]Handler, 0, len(names)+1)
	for _, name := range append([]string{""}, names...) {
		h := Handler{Name: name}
		if rt, err := m.resolveRuntime(cfg, name); err == nil {
			h.Features = m.Features(rt)
		}
		out = append(out, h)
	}
	return out
}

// runtimeRecord is a pod's Runtime in its checkpoint.
type runtimeRecord struct {
	Type          string
	BinaryName    string `json:",omitempty"`
	Root          string `json:",omitempty"`
	SystemdCgroup bool   `json:",omitempty"`
}

func (rt Runtime) record() *runtimeRecord {
	if rt.Type == "" {
		return nil
	}
	return &runtimeRecord{
		Type:          rt.Type,
		BinaryName:    rt.Options.GetBinaryName(),
		Root:          rt.Options.GetRoot(),
		SystemdCgroup: rt.Options.GetSystemdCgroup(),
	}
}

func (r *runtimeRecord) runtime(handler string) Runtime {
	if r == nil {
		return Runtime{Handler: handler}
	}
	return Runtime{Handler: handler, Type: r.Type, Options: &runcoptions.Options{
		BinaryName: r.BinaryName, Root: r.Root, SystemdCgroup: r.SystemdCgroup,
	}}
}

// PodRuntime is the runtime sb was created with, for its containers. A pod
// restored from a checkpoint that predates recorded runtimes got its
// handler's runtime at start-up; when that handler was gone by then, the
// pod cannot get new containers.
func PodRuntime(sb *Sandbox) (Runtime, error) {
	if sb.Runtime.Type == "" {
		return Runtime{}, fmt.Errorf("sandbox %s: its runtime handler %q is not configured and its checkpoint does not record its runtime: %w",
			sb.ID, sb.RuntimeHandler, errdefs.ErrFailedPrecondition)
	}
	return sb.Runtime, nil
}
