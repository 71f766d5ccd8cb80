// Package events watches containerd's task events for cricket's namespace
// and hands exits and OOM kills to the managers that own the tasks, so that
// state changes are seen when they happen, without polling; and its image
// events to the image service, which keeps its catalog until they come.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/typeurl/v2"
)

// Exit is a process exit: a container's init process (ExecID empty or the
// container ID) or an exec'd process.
type Exit struct {
	ContainerID string
	ExecID      string
	PID         uint32
	Status      uint32
	At          time.Time
	// Deleted marks a task deletion (containerd's TaskDelete) rather than
	// an exit. Its exit may have gone unseen: published while cricketd
	// was down, by a deletion a crash of cricketd left to containerd to
	// finish. Handlers that already saw the exit ignore it.
	Deleted bool
}

// Handler receives events. Calls come from one goroutine in the order
// containerd published the events; handlers must not block for long.
type Handler interface {
	// HandleExit is called for every task and exec process exit, and
	// for every task deletion (Exit.Deleted).
	HandleExit(Exit)
	// HandleOOM is called when the kernel OOM-killed a process of a
	// container (before its exit event).
	HandleOOM(containerID string)
	// Resync is called after the event stream was re-established: events
	// may have been missed, so handlers re-read the state they track.
	Resync(ctx context.Context)
}

// Monitor is a running subscription.
type Monitor struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start subscribes to task exit, deletion and OOM events of namespace and dispatches
// them to handlers until Stop, and its image record changes to images. A
// broken subscription is re-established (with backoff), followed by a
// Resync.
func Start(c *client.Client, namespace string, log *slog.Logger, images Images, handlers ...Handler) *Monitor {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Monitor{cancel: cancel, done: make(chan struct{})}
	go m.run(ctx, c, namespace, log, images, handlers)
	return m
}

// Stop ends the subscription.
func (m *Monitor) Stop() {
	m.cancel()
	<-m.done
}

func (m *Monitor) run(ctx context.Context, c *client.Client, namespace string, log *slog.Logger, images Images, handlers []Handler) {
	defer close(m.done)
	filters := []string{
		fmt.Sprintf(`namespace==%q,topic=="/tasks/exit"`, namespace),
		fmt.Sprintf(`namespace==%q,topic=="/tasks/oom"`, namespace),
		fmt.Sprintf(`namespace==%q,topic=="/tasks/delete"`, namespace),
		fmt.Sprintf(`namespace==%q,topic=="/images/create"`, namespace),
		fmt.Sprintf(`namespace==%q,topic=="/images/update"`, namespace),
		fmt.Sprintf(`namespace==%q,topic=="/images/delete"`, namespace),
	}
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		sctx, scancel := context.WithCancel(ctx)
		evs, errs := c.Subscribe(sctx, filters...)
		if !first {
			// Resync only once the new stream is open, so nothing falls
			// between the resync and the stream.
			for _, h := range handlers {
				h.Resync(ctx)
			}
		}
		first = false
		images.Watched(true)
		started := time.Now()
	stream:
		for {
			select {
			case <-ctx.Done():
				scancel()
				return
			case err := <-errs:
				if ctx.Err() == nil {
					log.Warn("containerd event stream broke; resubscribing", "error", err)
				}
				break stream
			case env := <-evs:
				if env == nil || env.Event == nil {
					continue
				}
				ev, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					log.Warn("undecodable containerd event", "topic", env.Topic, "error", err)
					continue
				}
				dispatch(ev, images, handlers)
			}
		}
		scancel()
		images.Watched(false)
		if time.Since(started) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func dispatch(ev any, images Images, handlers []Handler) {
	switch e := ev.(type) {
	case *apievents.TaskExit:
		x := Exit{ContainerID: e.ContainerID, ExecID: e.ID, PID: e.Pid, Status: e.ExitStatus}
		if e.ExitedAt != nil {
			x.At = e.ExitedAt.AsTime()
		}
		for _, h := range handlers {
			h.HandleExit(x)
		}
	case *apievents.TaskDelete:
		x := Exit{ContainerID: e.ContainerID, ExecID: e.ID, PID: e.Pid, Status: e.ExitStatus, Deleted: true}
		if e.ExitedAt != nil {
			x.At = e.ExitedAt.AsTime()
		}
		for _, h := range handlers {
			h.HandleExit(x)
		}
	case *apievents.TaskOOM:
		for _, h := range handlers {
			h.HandleOOM(e.ContainerID)
		}
	case *apievents.ImageCreate, *apievents.ImageUpdate, *apievents.ImageDelete:
		images.InvalidateCatalog()
	}
}

// Images is what the image service needs of the events: to know whether
// they are watched and when a record changed.
type Images interface {
	// Watched is called with true on every subscription (image changes
	// are seen from now on, none before it were) and with false when the
	// subscription broke.
	Watched(bool)
	// InvalidateCatalog is called for every image record created,
	// updated or deleted in the namespace, by any client.
	InvalidateCatalog()
}
