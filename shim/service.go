package shim

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// publisher sends events to containerd.
type publisher interface {
	Publish(ctx context.Context, topic string, event events.Event) error
}

// Service is the shim's task service: every task (container) of one pod.
// Containers are created and run in-process with libcontainer.
type Service struct {
	ctx       context.Context // carries the namespace, for events
	namespace string
	events    publisher
	log       *slog.Logger
	reaper    *reaper
	oom       oomWatcher

	mu         sync.Mutex
	containers map[string]*container
	// creating holds the IDs whose Create is under way, so that a second
	// Create of the same ID is refused without waiting.
	creating map[string]bool
	// exiting: Shutdown let the shim go; no task is created any more.
	exiting bool
	// hold is the pod a shim cricketd spawned serves (its -id): such a
	// shim stays when containerd shuts it down after the pod's last task
	// (the pod's next container is created in it, instead of racing its
	// exit and paying for a new shim), until a Shutdown for the pod's ID
	// itself — cricketd's at StopPodSandbox and RemovePodSandbox, or
	// containerd's after a pause container's task — lets it go.
	hold string
	// socket is the path the shim listens on, unlinked by Shutdown.
	socket string

	shutdownOnce sync.Once
	done         chan struct{}
}

func newService(ctx context.Context, namespace string, pub publisher, log *slog.Logger) *Service {
	s := &Service{
		ctx: ctx, namespace: namespace, events: pub, log: log,
		reaper:     newReaper(),
		containers: map[string]*container{},
		creating:   map[string]bool{},
		done:       make(chan struct{}),
	}
	s.oom = newOOMWatcher(ctx, pub, log)
	return s
}

// Done is closed when the shim should exit (Shutdown with no task left).
func (s *Service) Done() <-chan struct{} { return s.done }

func (s *Service) container(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	return c, nil
}

// lookup returns a container and one of its processes.
func (s *Service) lookup(id, execID string) (*container, *process, error) {
	c, err := s.container(id)
	if err != nil {
		return nil, nil, err
	}
	p, err := c.process(execID)
	if err != nil {
		return nil, nil, err
	}
	return c, p, nil
}

// publish sends an event to containerd; the publisher queues and retries,
// so a containerd that restarts gets it later.
func (s *Service) publish(topic string, e events.Event) {
	if err := s.events.Publish(s.ctx, topic, e); err != nil {
		s.log.Warn("publish event", "topic", topic, "error", err)
	}
}

// exited reports a process's exit.
func (s *Service) exited(c *container, p *process) {
	pid, _, status, at := p.state()
	s.publish(runtime.TaskExitEventTopic, &eventstypes.TaskExit{
		ContainerID: c.id, ID: p.id, Pid: uint32(pid), ExitStatus: status, ExitedAt: timestamppb.New(at),
	})
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// pidOf is the shim's own pid, for Connect.
var shimPID = uint32(os.Getpid())
