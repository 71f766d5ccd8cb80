package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/internal/lease"
	"github.com/cricket-cri/cricket/internal/testrig"
	"github.com/cricket-cri/cricket/sandbox"
)

// internal/lease on the containerd client's WithLease: an operation's lease
// carries cricket's label and expires in an hour, Done deletes it,
// RemoveLeftovers deletes the ones a crash left, and a context that holds
// a lease already keeps it.
func TestOperationLeases(t *testing.T) {
	c, err := client.New(testrig.Containerd(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns := fmt.Sprintf("ck-lease-%d", time.Now().UnixNano())
	ctx := namespaces.WithNamespace(context.Background(), ns)
	t.Cleanup(func() {
		ls, _ := c.LeasesService().List(ctx)
		for _, l := range ls {
			c.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
		}
		c.NamespaceService().Delete(ctx, ns)
	})
	list := func() []leases.Lease {
		t.Helper()
		ls, err := c.LeasesService().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}

	lctx, done, err := lease.With(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := leases.FromContext(lctx)
	ls := list()
	if !ok || len(ls) != 1 || ls[0].ID != id {
		t.Fatalf("context lease %q (%v), leases %v", id, ok, ls)
	}
	if ls[0].Labels[lease.Label] != "true" {
		t.Errorf("labels %v, want %s=true", ls[0].Labels, lease.Label)
	}
	exp, err := time.Parse(time.RFC3339, ls[0].Labels["containerd.io/gc.expire"])
	if left := time.Until(exp); err != nil || left < 55*time.Minute || left > 61*time.Minute {
		t.Errorf("expiry %q (%v): %v from now, want an hour", ls[0].Labels["containerd.io/gc.expire"], err, left)
	}

	// Nested: the operation's lease is kept, and ending it is its owner's.
	nctx, ndone, err := lease.With(lctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if nid, _ := leases.FromContext(nctx); nid != id {
		t.Errorf("nested lease %q, want the outer %q", nid, id)
	}
	ndone()
	if got := list(); len(got) != 1 {
		t.Errorf("ending the nested lease ended the outer: %v", got)
	}

	// A failed operation ends its lease before Done returns.
	failed := errors.New("failed")
	lease.Done(done, &failed)
	if got := list(); len(got) != 0 {
		t.Errorf("leases after Done: %v", got)
	}

	// A successful operation ends it in the background.
	_, done, err = lease.With(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var ok2 error
	lease.Done(done, &ok2)
	deadline := time.Now().Add(10 * time.Second)
	for len(list()) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("leases after a successful operation's Done: %v", got)
	}

	// Leftovers of a crash: cricket's go, others stay.
	for range 2 {
		if _, _, err := lease.With(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	other, err := c.LeasesService().Create(ctx, leases.WithRandomID())
	if err != nil {
		t.Fatal(err)
	}
	if err := lease.RemoveLeftovers(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 1 || got[0].ID != other.ID {
		t.Errorf("after RemoveLeftovers: %v, want only %s", got, other.ID)
	}
}

// lease.NewContainer creates a container without a lease, and the root
// label sandbox.WithSnapshot gives a snapshot keeps it through a garbage
// collection that runs before any record references it (one without the
// label is collected: the check can fail). Options run without a lease
// when the caller has none, and with the caller's when it has one.
func TestContainerWithoutLeaseKeepsRootSnapshot(t *testing.T) {
	c, err := client.New(testrig.Containerd(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns := fmt.Sprintf("ck-root-%d", time.Now().UnixNano())
	ctx := namespaces.WithNamespace(context.Background(), ns)
	sn := c.SnapshotService("overlayfs")
	t.Cleanup(func() {
		for _, k := range []string{"rooted", "bare", "ctr-snap"} {
			sn.Remove(ctx, k)
		}
		c.ContainerService().Delete(ctx, "ctr")
		ls, _ := c.LeasesService().List(ctx)
		for _, l := range ls {
			c.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
		}
		c.NamespaceService().Delete(ctx, ns)
	})
	// A lease deleted synchronously runs the garbage collector before
	// the deletion returns.
	collect := func() {
		t.Helper()
		l, err := c.LeasesService().Create(ctx, leases.WithRandomID())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sn.Prepare(ctx, "rooted", "", snapshots.WithLabels(sandbox.RootLabel())); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "bare", ""); err != nil {
		t.Fatal(err)
	}
	collect()
	if _, err := sn.Stat(ctx, "rooted"); err != nil {
		t.Errorf("rooted snapshot after a collection: %v", err)
	}
	if _, err := sn.Stat(ctx, "bare"); !errdefs.IsNotFound(err) {
		t.Errorf("unreferenced snapshot after a collection: %v, want it collected", err)
	}

	var optLease []string
	sawLease := func(ctx context.Context, _ *client.Client, _ *containers.Container) error {
		id, ok := leases.FromContext(ctx)
		optLease = append(optLease, fmt.Sprintf("%q %v", id, ok))
		return nil
	}
	spec := func(_ context.Context, _ *client.Client, ctr *containers.Container) error {
		ctr.Spec, err = typeurl.MarshalAny(&specs.Spec{Version: specs.Version})
		return err
	}
	if _, err := lease.NewContainer(ctx, c, "ctr", sawLease, client.WithRuntime("io.containerd.runc.v2", nil),
		sandbox.WithSnapshot("overlayfs", "ctr-snap", "", "img", nil), spec); err != nil {
		t.Fatal(err)
	}
	if ls, err := c.LeasesService().List(ctx); err != nil || len(ls) != 0 {
		t.Errorf("leases after lease.NewContainer: %v (%v), want none", ls, err)
	}
	if _, err := sn.Stat(ctx, "ctr-snap"); err != nil {
		t.Errorf("container's snapshot: %v", err)
	}
	lctx, done, err := lease.With(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	id, _ := leases.FromContext(lctx)
	if _, err := lease.NewContainer(lctx, c, "ctr2", sawLease, client.WithRuntime("io.containerd.runc.v2", nil), spec); err != nil {
		t.Fatal(err)
	}
	c.ContainerService().Delete(ctx, "ctr2")
	if want := []string{`"" false`, fmt.Sprintf("%q true", id)}; !slices.Equal(optLease, want) {
		t.Errorf("options saw leases %q, want %q", optLease, want)
	}
}
