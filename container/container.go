// Package container runs the containers of pod sandboxes: it turns CRI
// container configs into containerd containers and tasks (in the pod's
// shim), copies their output into CRI log files, tracks their state from
// containerd's exit and OOM events, and runs ExecSync.
package container

import (
	"fmt"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/internal/listbudget"
)

// State of a container as the CRI reports it.
type State int

const (
	StateCreated State = iota
	StateRunning
	StateExited
	StateUnknown
)

func (s State) String() string {
	return [...]string{"created", "running", "exited", "unknown"}[s]
}

// Exit reasons the CRI reports.
const (
	ReasonCompleted  = "Completed"
	ReasonError      = "Error"
	ReasonOOMKilled  = "OOMKilled"
	ReasonStartError = "StartError"
)

// Container is one container. Its three parts differ in how they change:
//
//   - Metadata is set while the container is created, before anyone else
//     sees it, and never changes after: it is read without a lock.
//   - status (Status) is its state as the CRI reports it and its
//     checkpoint keeps it. It changes only through update, which changes
//     and checkpoints it in one critical section under mu.
//   - The fields after status are volatile: handles, flags and channels
//     that live as long as this cricketd does. They are read and changed
//     directly under mu; none is checkpointed.
//
// Locks, in the order they are taken (none is taken while holding one
// that comes later): the sandbox's op, op, execCleanup, and last mu or the
// sandbox's mu, each on its own (these two are never held together).
//
//   - op serializes the lifecycle operations (start, stop, remove, resource
//     updates) and is held across containerd calls; StopPodSandbox and
//     RemovePodSandbox take it under the sandbox's op.
//   - execCleanup is read-locked while an exec's process is deleted; an
//     exited container's task is deleted only once none is (see
//     deleteExitedTask). It cannot be op: an exit that StopContainer
//     finishes takes it under op, and an exec's deletion must not wait for
//     a stop. It cannot be mu: it is held across containerd calls.
//   - mu guards status and the volatile fields. It is held only to read or
//     change them and, in update, for the checkpoint write: never across a
//     containerd call or a lock other than itself. Events are published
//     after it is released: a subscriber reads Status.
type Container struct {
	Metadata
	// listCharge is the container's share of the list budget, returned
	// when it is removed.
	listCharge *listbudget.Charge

	op          sync.Mutex
	execCleanup sync.RWMutex
	mu          sync.Mutex

	status Status

	// file is the container's checkpoint, written atomically but not
	// synced: a crash of cricketd loses nothing, and after a crash of the
	// host the container is gone anyway; a record that a host crash lost
	// or set back is handled at start-up like any other (a containerd
	// container without a record is removed, a task that is gone is an
	// exit).
	file checkpoint.File
	// finishing is set once finish began recording the exit.
	finishing bool
	// exited is closed when the container's process has exited and its
	// output is drained: by update, when the status becomes exited.
	exited chan struct{}
	io     *stdio

	// Handles that save containerd round trips; nil when unknown (e.g.
	// after a restart), and then loaded again.
	// ctr is the containerd container, as created.
	ctr client.Container
	// snapshotter holds the container's rootfs snapshot (named by its ID)
	// when known.
	snapshotter string
	// rootfs are the snapshot's mounts, kept from its preparation for the
	// task's creation (nil after a restart: asked for then).
	rootfs []mount.Mount
	// task is the container's task while it may exist.
	task client.Task
	// noTask is set while the container is known to have no task: from
	// its creation until a start creates one, and once that is deleted.
	noTask bool
	// process is the container's OCI process spec, the template of execs.
	process *specs.Process
	// events receives the container's Started and Stopped events, which
	// update publishes in the critical section that changes the state: a
	// Started never follows the Stopped of a process that exited at once,
	// and a Stopped never follows the Deleted of a removal that waited
	// for the exit (c.exited is closed after it).
	broker *events.Broker
	// spec is the runtime spec as containerd stores it (JSON), for the
	// verbose status: kept from the creation or last update, or read once
	// (nil until then, e.g. after a restart).
	spec []byte
}

// Metadata is what a container is created with. Its checkpoint holds it
// as it is, but for Config, which goes in its protobuf encoding (see
// record).
type Metadata struct {
	ID        string
	SandboxID string
	Config    *runtime.ContainerConfig `json:"-"`
	CreatedAt time.Time
	// ImageID is the config digest; ImageName the image's tag or digest
	// reference (for status), ImageRef its repo digest or ID.
	ImageID   string
	ImageName string
	ImageRef  string
	// LogPath is the absolute CRI log path ("" when the config has none).
	LogDir, LogPath string
	// Dir holds volatile files: the stdio FIFOs.
	Dir string
	// User is the process user as created (uid, gid, groups).
	User specs.User
	// StopSignal is the signal StopContainer sends first.
	StopSignal string
	// NameKey is the reserved name (container, attempt and pod).
	NameKey string
	// CgroupPath is the container's cgroup (cgroupfs path), for stats.
	CgroupPath string
}

// Status is a container's changing state, as the CRI reports it and its
// checkpoint keeps it (Resources in its protobuf encoding, see record).
type Status struct {
	// Creating is set until CreateContainer finished: a checkpoint still
	// creating after a crash is rolled back at start-up.
	Creating   bool
	State      State
	PID        uint32
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int32
	Reason     string
	Message    string
	// OOMKilled is set when the kernel's OOM killer killed a process of
	// the container: its exit is reported as OOMKilled.
	OOMKilled bool
	Resources *runtime.LinuxContainerResources `json:"-"`
}

// Status returns the container's current state.
func (c *Container) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// update is the one way a container's status changes: under mu, fn edits
// a copy of it, the copy is checkpointed and only then becomes the status
// (see checkpoint.Update for how and what it returns). The status becoming
// exited closes c.exited in the same critical section. Once the checkpoint
// is removed, the status changes in memory only. fn runs under mu: it
// must not call what takes mu (Status).
func (c *Container) update(how checkpoint.Change, fn func(*Status) bool) error {
	// The config never changes: encoded before the lock is taken.
	cfg, err := checkpoint.EncodeFor(how, c.Config)
	if err != nil {
		return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.status.State
	err = checkpoint.Update(&c.status, how, func(s Status) error {
		res, err := checkpoint.EncodeFor(how, s.Resources)
		if err != nil {
			return fmt.Errorf("checkpoint container %s: %w", c.ID, err)
		}
		return c.file.Write(&record{Metadata: c.Metadata, Status: s, Config: cfg, Resources: res})
	}, fn)
	switch now := c.status.State; {
	case was == now:
	case now == StateRunning:
		c.broker.Publish(events.Lifecycle{ID: c.ID, SandboxID: c.SandboxID, Kind: events.Started, Object: c})
	case now == StateExited:
		c.broker.Publish(events.Lifecycle{ID: c.ID, SandboxID: c.SandboxID, Kind: events.Stopped, Object: c})
		close(c.exited)
	}
	return err
}

// removeCheckpoint removes the container's checkpoint for good.
func (c *Container) removeCheckpoint() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.file.Remove(); err != nil {
		return fmt.Errorf("remove checkpoint of container %s: %w", c.ID, err)
	}
	return nil
}

// nameKey is the key kubelet may not reuse while the container exists: the
// container's name and attempt within its pod.
func nameKey(m *runtime.ContainerMetadata, sandboxName string) string {
	return fmt.Sprintf("%s_%d_%s", m.GetName(), m.GetAttempt(), sandboxName)
}

// record is a container as checkpointed under the root dir: its metadata
// and status, with the two protobuf messages encoded.
type record struct {
	Metadata
	Status
	Config    []byte // protobuf ContainerConfig
	Resources []byte // protobuf LinuxContainerResources, nil for none
}

// container is the container a checkpoint at path describes.
func (r *record) container(path string, evs *events.Broker) (*Container, error) {
	c := &Container{Metadata: r.Metadata, status: r.Status, file: checkpoint.File{Path: path}, exited: make(chan struct{}), broker: evs}
	c.Config = &runtime.ContainerConfig{}
	if err := proto.Unmarshal(r.Config, c.Config); err != nil {
		return nil, fmt.Errorf("container %s: decode config: %w", r.ID, err)
	}
	if len(r.Resources) > 0 {
		c.status.Resources = &runtime.LinuxContainerResources{}
		if err := proto.Unmarshal(r.Resources, c.status.Resources); err != nil {
			return nil, fmt.Errorf("container %s: decode resources: %w", r.ID, err)
		}
	}
	if c.status.State == StateExited {
		close(c.exited)
	}
	return c, nil
}
