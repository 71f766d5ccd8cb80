// Package lease gives each cricket operation that creates containerd
// objects (pulls, containers, snapshots) a containerd lease of its own,
// labelled as cricket's. The lease protects the objects from garbage
// collection while they are being made; if cricketd dies mid-operation the
// lease would keep them for a day, so start-up deletes every lease cricket
// left behind (no operation runs then).
package lease

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
)

// Label marks cricket's operation leases.
const Label = "io.cricket.operation"

// With returns ctx holding a new cricket lease (the client's WithLease,
// with cricket's label and an expiry of an hour), and the function that
// ends it. Calls made with the context (client.Pull, client.NewContainer)
// use this lease instead of making their own. A context that already holds
// a lease keeps it, and ending is then left to its owner.
func With(ctx context.Context, c *client.Client) (context.Context, func(), error) {
	lctx, end, err := c.WithLease(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour),
		leases.WithLabels(map[string]string{Label: "true"}))
	if err != nil {
		return ctx, func() {}, fmt.Errorf("create lease: %w", err)
	}
	done := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		end(dctx)
	}
	return lctx, done, nil
}

// RemoveLeftovers deletes the leases of operations a crash interrupted.
func RemoveLeftovers(ctx context.Context, c *client.Client) error {
	ls, err := c.LeasesService().List(ctx, fmt.Sprintf("labels.%q==true", Label))
	if err != nil {
		return err
	}
	for _, l := range ls {
		if err := c.LeasesService().Delete(ctx, l, leases.SynchronousDelete); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// Done ends an operation's lease: at once when the operation failed (what
// it made is being undone, and a leak census may follow), else in the
// background. Once the containerd container refers to its snapshot, the
// lease protects nothing; deleting it is a round trip the caller need not
// wait for. One left behind by a crash expires, or goes at start-up
// (RemoveLeftovers).
func Done(done func(), failed *error) {
	if *failed != nil {
		done()
		return
	}
	go done()
}

// NewContainer is the client's NewContainer without the lease it creates
// when ctx holds none (two containerd calls and two database commits):
// cricket's containers either get their snapshot from an option that
// protects it otherwise (sandbox.WithSnapshot) or are created under With.
// The options run on ctx, with its lease if it has one; the record's
// creation carries an empty lease ID, which only tells the client that
// there is one (containerd's container store ignores leases).
func NewContainer(ctx context.Context, c *client.Client, id string, opts ...client.NewContainerOpts) (client.Container, error) {
	if _, ok := leases.FromContext(ctx); ok {
		return c.NewContainer(ctx, id, opts...)
	}
	onCtx := make([]client.NewContainerOpts, len(opts))
	for i, o := range opts {
		onCtx[i] = func(_ context.Context, c *client.Client, ctr *containers.Container) error { return o(ctx, c, ctr) }
	}
	return c.NewContainer(leases.WithLease(ctx, ""), id, onCtx...)
}
