package shim

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits of the event queue: what containerd has not taken after this
// many tries (about three seconds) or beyond this many waiting events is
// dropped with a warning. containerd learns a task's state from the shim
// again when it reconnects (State, Wait), and cricketd from containerd.
const (
	eventQueueMax   = 4096
	eventTries      = 6
	eventFirstDelay = 100 * time.Millisecond
	eventTimeout    = 5 * time.Second
	// eventFlush bounds how long a shim that is exiting waits for its last
	// events (TaskExit, TaskDelete) to reach containerd.
	eventFlush = 2 * time.Second
)

// eventPublisher forwards events to containerd's ttrpc events service, in
// the order they were published, from a goroutine of its own: a task call
// (Create, Start, Delete) answers without waiting for containerd to take
// its event, as the runc shim's do. The connection is made when the first
// event goes out and made again after containerd restarts.
type eventPublisher struct {
	address   string
	namespace string
	log       *slog.Logger

	mu      sync.Mutex
	queue   []*types.Envelope
	wake    chan struct{}
	closing bool
	done    chan struct{}

	client *ttrpc.Client // only the sending goroutine uses it
}

func newEventPublisher(address, namespace string, log *slog.Logger) *eventPublisher {
	p := &eventPublisher{
		address: strings.TrimPrefix(address, "unix://"), namespace: namespace, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go p.run()
	return p
}

// Publish queues an event; it never waits for containerd.
func (p *eventPublisher) Publish(_ context.Context, topic string, event events.Event) error {
	any, err := typeurl.MarshalAnyToProto(event)
	if err != nil {
		return err
	}
	env := &types.Envelope{Timestamp: timestamppb.Now(), Namespace: p.namespace, Topic: topic, Event: any}
	p.mu.Lock()
	if len(p.queue) >= eventQueueMax {
		p.mu.Unlock()
		p.log.Warn("event queue full; event dropped", "topic", topic)
		return nil
	}
	p.queue = append(p.queue, env)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close sends what is queued (for at most eventFlush) and stops.
func (p *eventPublisher) Close() error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	select {
	case <-p.done:
	case <-time.After(eventFlush):
		p.log.Warn("events not sent before the shim's exit")
	}
	return nil
}

func (p *eventPublisher) run() {
	defer close(p.done)
	defer func() {
		if p.client != nil {
			p.client.Close()
		}
	}()
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			closing := p.closing
			p.mu.Unlock()
			if closing {
				return
			}
			<-p.wake
			continue
		}
		env := p.queue[0]
		p.mu.Unlock()
		p.send(env)
		p.mu.Lock()
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
	}
}

// send forwards one event, trying again with growing delays.
func (p *eventPublisher) send(env *types.Envelope) {
	delay := eventFirstDelay
	var err error
	for try := 0; try < eventTries; try++ {
		if try > 0 {
			time.Sleep(delay)
			delay *= 2
		}
		if err = p.forward(env); err == nil {
			return
		}
	}
	p.log.Error("event not taken by containerd; dropped", "topic", env.Topic, "error", err)
}

func (p *eventPublisher) forward(env *types.Envelope) error {
	if p.client == nil {
		conn, err := net.DialTimeout("unix", p.address, eventTimeout)
		if err != nil {
			return err
		}
		p.client = ttrpc.NewClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	_, err := eventsapi.NewTTRPCEventsClient(p.client).Forward(ctx, &eventsapi.ForwardRequest{Envelope: env})
	if err != nil {
		// A new connection for the next try: containerd may have
		// restarted.
		p.client.Close()
		p.client = nil
	}
	return err
}
