package testrig

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/vishvananda/netlink"

	"github.com/cricket-cri/cricket/internal/mounts"
	"github.com/cricket-cri/cricket/internal/shimproc"
)

// Resources is what a daemon's pods and containers hold outside cricketd's
// memory: the things a leak would leave behind.
type Resources struct {
	NetNS      []string // pinned network namespaces
	Mounts     []string // mounts under the daemon's directory
	Veths      []string // host-side veth links on the daemon's bridge
	IPs        []string // IPAM allocations
	Cgroups    []string // cgroups under CgroupParents
	Containers []string // containerd containers
	Tasks      []string // containerd tasks
	Snapshots  []string // containerd snapshots (active and committed)
	Leases     []string // containerd leases
	Shims      []string // shim processes of the daemon's namespace
	// RuntimeState is the shims' state of the namespace's containers
	// (runc's, libcontainer's in cricket's shim).
	RuntimeState []string
	Bundles      []string // containerd's task bundles of the namespace
	Sockets      []string // sockets of the pods' shims
}

// CgroupParents are cgroup parents (relative to a cgroup v1 controller
// mount) whose children Resources lists.
var cgroupControllers = []string{"memory", "cpu", "pids"}

// Resources lists what the daemon holds now. cgroupParents are the pods'
// cgroup parents to inspect (e.g. "/ck-test").
func (d *Daemon) Resources(tb testing.TB, cgroupParents ...string) Resources {
	tb.Helper()
	var r Resources
	ents, _ := os.ReadDir(filepath.Join(d.Config.State, "netns"))
	for _, e := range ents {
		r.NetNS = append(r.NetNS, e.Name())
	}
	r.Mounts = mounts.Under(d.Dir)
	if !strings.HasPrefix(d.bundleDir(), d.Dir+"/") {
		// The rootfs mounts of the namespace's tasks in the shared or a
		// private containerd's state.
		r.Mounts = append(r.Mounts, mounts.Under(d.bundleDir())...)
	}
	r.RuntimeState, r.Bundles = d.runtimeState()
	r.Sockets = d.shimSockets()
	if d.Network != nil {
		r.IPs = d.Network.Allocations()
		if br, err := netlink.LinkByName(d.Network.Bridge); err == nil {
			links, _ := netlink.LinkList()
			for _, l := range links {
				if l.Attrs().MasterIndex == br.Attrs().Index {
					r.Veths = append(r.Veths, l.Attrs().Name)
				}
			}
		}
	}
	for _, parent := range cgroupParents {
		for _, ctrl := range cgroupControllers {
			base := filepath.Join("/sys/fs/cgroup", ctrl, parent)
			ents, _ := os.ReadDir(base)
			for _, e := range ents {
				if e.IsDir() {
					r.Cgroups = append(r.Cgroups, filepath.Join(ctrl, parent, e.Name()))
				}
			}
		}
	}
	if !d.Config.Containerd.Managed {
		// (the shared or a private containerd)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := d.containerdClient(tb)
		defer c.Close()
		ctrs, err := c.Containers(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		for _, ctr := range ctrs {
			r.Containers = append(r.Containers, ctr.ID())
			if _, err := ctr.Task(ctx, nil); err == nil {
				r.Tasks = append(r.Tasks, ctr.ID())
			}
		}
		c.SnapshotService(d.Config.Containerd.Snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
			r.Snapshots = append(r.Snapshots, info.Name)
			return nil
		})
		ls, _ := c.LeasesService().List(ctx)
		for _, l := range ls {
			r.Leases = append(r.Leases, l.ID)
		}
	}
	r.Shims = shimsOf(d.Config.Containerd.Namespace)
	for _, s := range [][]string{r.NetNS, r.Mounts, r.Veths, r.IPs, r.Cgroups, r.Containers, r.Tasks, r.Snapshots, r.Leases, r.Shims, r.RuntimeState, r.Bundles, r.Sockets} {
		slices.Sort(s)
	}
	return r
}

// Diff describes what other holds that r does not (new resources).
func (r Resources) Diff(other Resources) string {
	var b strings.Builder
	add := func(what string, before, after []string) {
		for _, x := range after {
			if !slices.Contains(before, x) {
				fmt.Fprintf(&b, "  %s: %s\n", what, x)
			}
		}
	}
	add("netns", r.NetNS, other.NetNS)
	add("mount", r.Mounts, other.Mounts)
	add("veth", r.Veths, other.Veths)
	add("ip", r.IPs, other.IPs)
	add("cgroup", r.Cgroups, other.Cgroups)
	add("containerd container", r.Containers, other.Containers)
	add("containerd task", r.Tasks, other.Tasks)
	add("snapshot", r.Snapshots, other.Snapshots)
	add("lease", r.Leases, other.Leases)
	add("shim", r.Shims, other.Shims)
	add("runtime state", r.RuntimeState, other.RuntimeState)
	add("task bundle", r.Bundles, other.Bundles)
	add("shim socket", r.Sockets, other.Sockets)
	return b.String()
}

// shimsOf lists the serving shim processes of namespace ns, runc's and
// cricket's (see shimproc), as "PID (binary, group ID)".
func shimsOf(ns string) []string {
	var out []string
	for _, s := range shimproc.List() {
		if s.Namespace == ns {
			out = append(out, fmt.Sprintf("%d (%s, group %s)", s.PID, s.Binary, s.ID))
		}
	}
	return out
}

// CollectGarbage has containerd run a garbage collection now (a lease
// deleted synchronously does). A snapshot nothing refers to any more is
// containerd's garbage, collected by its next collection; containerd 1.6
// may not schedule one for a last reference dropped while a collection
// runs, until something else changes, and a node left idle keeps it.
func (d *Daemon) CollectGarbage(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := d.containerdClient(tb)
	defer c.Close()
	l, err := c.LeasesService().Create(ctx, leases.WithRandomID())
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil {
		tb.Fatal(err)
	}
}

// containerdClient connects to the daemon's containerd, in its namespace;
// the caller closes it.
func (d *Daemon) containerdClient(tb testing.TB) *client.Client {
	tb.Helper()
	c, err := client.New(d.Config.Containerd.Address, client.WithDefaultNamespace(d.Config.Containerd.Namespace))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
