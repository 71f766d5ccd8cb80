package testrig

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/grpc"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/shimproc"
)

// What the shims of a daemon's pods leave outside the daemon's directory:
// the OCI runtime's state, containerd's task bundles (with their rootfs
// mounts) and the shims' sockets. A shim killed with -9 leaves all of them
// to its delete command.

// containerdAddress is the socket of the daemon's containerd (the shims'
// -address).
func (d *Daemon) containerdAddress() string {
	if d.Config.Containerd.Managed {
		return filepath.Join(d.Config.State, "containerd", "containerd.sock")
	}
	return d.Config.Containerd.Address
}

// bundleDir is the directory of containerd's task bundles of the daemon's
// namespace (the rig's containerds keep their state next to their socket).
func (d *Daemon) bundleDir() string {
	return filepath.Join(filepath.Dir(d.containerdAddress()), "run", "io.containerd.runtime.v2.task", d.Config.Containerd.Namespace)
}

// runtimeState lists the containers' runtime state and task bundles of
// the daemon's namespace.
func (d *Daemon) runtimeState() (state, bundles []string, err error) {
	ns := d.Config.Containerd.Namespace
	for _, root := range shimproc.StateRoots {
		names, err := dirEntries(filepath.Join(root, ns), false)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range names {
			state = append(state, filepath.Join(root, ns, n))
		}
	}
	names, err := dirEntries(d.bundleDir(), false)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		bundles = append(bundles, filepath.Join(d.bundleDir(), n))
	}
	return state, bundles, nil
}

// podIDs records the IDs of the pods the daemon ran: their shims' sockets
// derive from them.
type podIDs struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (p *podIDs) add(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ids == nil {
		p.ids = map[string]bool{}
	}
	p.ids[id] = true
}

func (p *podIDs) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for id := range p.ids {
		out = append(out, id)
	}
	return out
}

// record is a client interceptor that notes the ID of every pod a
// RunPodSandbox call returns or a ListPodSandbox call lists.
func (p *podIDs) record(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	switch r := reply.(type) {
	case *runtime.RunPodSandboxResponse:
		if r.PodSandboxId != "" {
			p.add(r.PodSandboxId)
		}
	case *runtime.ListPodSandboxResponse:
		for _, s := range r.Items {
			p.add(s.Id)
		}
	}
	return err
}

// shimSockets lists the sockets on disk of the pods' shims: every task of
// a pod shares the shim grouped by the pod's ID (see shimproc.SocketPath).
func (d *Daemon) shimSockets() ([]string, error) {
	var out []string
	for _, id := range d.pods.list() {
		path := shimproc.SocketPath(d.containerdAddress(), d.Config.Containerd.Namespace, id)
		_, err := os.Lstat(path)
		switch {
		case err == nil:
			out = append(out, path+" (pod "+id+")")
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	return out, nil
}
