package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/cricket-cri/cricket/nri"
)

// startNRI starts NRI once pods and containers are restored (plugins are
// synchronized with them), retrying with backoff until it starts or ctx
// ends, and then opens g: pod and container calls wait for it, so that no
// container is created without the plugins' adjustments.
func startNRI(ctx context.Context, n *nri.NRI, d nri.Domain, log *slog.Logger, g *gate) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := n.Start(d)
		if err == nil {
			g.release()
			return
		}
		g.wait(err)
		log.Error("NRI did not start; pods and containers wait for it", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// readyWithNRI returns what pod and container calls wait for: state
// recovery, then NRI's start when NRI is on; and NRI's gate (nil when off).
func readyWithNRI(recovered *gate, n *nri.NRI) (func() error, *gate) {
	if !n.Enabled() {
		return recovered.Err, nil
	}
	up := &gate{what: "starting NRI", first: "starting plugins and listening on the NRI socket"}
	return func() error {
		if err := recovered.Err(); err != nil {
			return err
		}
		return up.Err()
	}, up
}
