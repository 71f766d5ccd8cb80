package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/cricket-cri/cricket/internal/lease"
	"github.com/cricket-cri/cricket/internal/testrig"
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
