package testrig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"

	"github.com/cricket-cri/cricket/internal/cgroup"
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

// Resources lists what the daemon holds now. cgroupParents are the pods'
// cgroup parents to inspect (e.g. "/ck-test"): their child cgroups are
// listed in every hierarchy the host has mounted (each v1 controller and
// the v2 one on a v1 or hybrid host, the one hierarchy on a unified host).
// Anything that cannot be listed fails the test: a census that could not
// look must not read as "nothing leaked".
func (d *Daemon) Resources(tb testing.TB, cgroupParents ...string) Resources {
	tb.Helper()
	fail := func(what string, err error) {
		tb.Helper()
		tb.Fatalf("resource census: cannot list %s: %v", what, err)
	}
	var r Resources
	var err error
	if r.NetNS, err = dirEntries(filepath.Join(d.Config.State, "netns"), false); err != nil {
		fail("network namespace pins", err)
	}
	if r.Mounts, err = mounts.List(d.Dir); err != nil {
		fail("mounts", err)
	}
	if !strings.HasPrefix(d.bundleDir(), d.Dir+"/") {
		// The rootfs mounts of the namespace's tasks in the shared or a
		// private containerd's state.
		m, err := mounts.List(d.bundleDir())
		if err != nil {
			fail("mounts", err)
		}
		r.Mounts = append(r.Mounts, m...)
	}
	if r.RuntimeState, r.Bundles, err = d.runtimeState(); err != nil {
		fail("runtime state", err)
	}
	if r.Sockets, err = d.shimSockets(); err != nil {
		fail("shim sockets", err)
	}
	if d.Network != nil {
		if r.IPs, err = d.Network.allocations(); err != nil {
			fail("address allocations", err)
		}
		if r.Veths, err = bridgePorts(d.Network.Bridge); err != nil {
			fail("veths", err)
		}
	}
	for _, parent := range cgroupParents {
		cgs, err := childCgroups(parent)
		if err != nil {
			fail("cgroups", err)
		}
		r.Cgroups = append(r.Cgroups, cgs...)
	}
	if !d.Config.Containerd.Managed {
		// (the shared or a private containerd)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := d.containerdClient(tb)
		defer c.Close()
		ctrs, err := c.Containers(ctx)
		if err != nil {
			fail("containerd containers", err)
		}
		for _, ctr := range ctrs {
			r.Containers = append(r.Containers, ctr.ID())
			_, err := ctr.Task(ctx, nil)
			switch {
			case err == nil:
				r.Tasks = append(r.Tasks, ctr.ID())
			case !errdefs.IsNotFound(err):
				fail("the task of containerd container "+ctr.ID(), err)
			}
		}
		err = c.SnapshotService(d.Config.Containerd.Snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
			r.Snapshots = append(r.Snapshots, info.Name)
			return nil
		})
		if err != nil {
			fail("snapshots", err)
		}
		ls, err := c.LeasesService().List(ctx)
		if err != nil {
			fail("leases", err)
		}
		for _, l := range ls {
			r.Leases = append(r.Leases, l.ID)
		}
	}
	if r.Shims, err = shimsOf(d.Config.Containerd.Namespace); err != nil {
		fail("shim processes", err)
	}
	for _, s := range [][]string{r.NetNS, r.Mounts, r.Veths, r.IPs, r.Cgroups, r.Containers, r.Tasks, r.Snapshots, r.Leases, r.Shims, r.RuntimeState, r.Bundles, r.Sockets} {
		slices.Sort(s)
	}
	return r
}

// childCgroups lists the cgroups directly below parent in every hierarchy
// of the host, relative to the cgroup root ("memory/ck-x/<id>" on v1 and
// hybrid hosts, "ck-x/<id>" on a unified one). A parent that does not
// exist in a hierarchy has no children there.
func childCgroups(parent string) ([]string, error) {
	h := cgroup.Host()
	dirs, err := h.Dirs(parent)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, dir := range dirs {
		names, err := dirEntries(dir, true)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			rel, err := filepath.Rel(h.Root, filepath.Join(dir, n))
			if err != nil {
				return nil, err
			}
			out = append(out, rel)
		}
	}
	return out, nil
}

// dirEntries lists the names in dir (only subdirectories with onlyDirs);
// a directory that does not exist holds nothing.
func dirEntries(dir string, onlyDirs bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !onlyDirs || e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// bridgePorts lists the links attached to the bridge; none when the
// bridge does not exist (yet: it is created for the first pod).
func bridgePorts(bridge string) ([]string, error) {
	br, err := netlink.LinkByName(bridge)
	if _, ok := errors.AsType[netlink.LinkNotFoundError](err); ok {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
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
func shimsOf(ns string) ([]string, error) {
	shims, err := shimproc.Scan()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range shims {
		if s.Namespace == ns {
			out = append(out, fmt.Sprintf("%d (%s, group %s)", s.PID, s.Binary, s.ID))
		}
	}
	return out, nil
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
