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

// Container is one container. Fields above mu never change after creation;
// the rest are guarded by mu.
type Container struct {
	ID        string
	SandboxID string
	Config    *runtime.ContainerConfig
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
	// listCharge is the container's share of the list budget, returned
	// when it is removed.
	listCharge *listbudget.Charge

	// op serializes lifecycle operations (start, stop, remove).
	op sync.Mutex

	mu         sync.Mutex
	state      State
	pid        uint32
	startedAt  time.Time
	finishedAt time.Time
	exitCode   int32
	reason     string
	message    string
	oomKilled  bool
	resources  *runtime.LinuxContainerResources
	removing   bool
	// finishing is set once finish began recording the exit.
	finishing bool
	// exited is closed when the container's process has exited and its
	// output is drained.
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
	// spec is the runtime spec as containerd stores it (JSON), for the
	// verbose status: kept from the creation or last update, or read once
	// (nil until then, e.g. after a restart).
	spec []byte

	// execCleanup is read-locked while an exec's deletion is under way.
	execCleanup sync.RWMutex

	// checkpointMu orders checkpoint writes with the checkpoint's removal:
	// a write that comes late (the exit of a container being removed)
	// must not bring a removed container back.
	checkpointMu   sync.Mutex
	checkpointGone bool
}

// Status is a snapshot of a container's mutable state.
type Status struct {
	State      State
	PID        uint32
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int32
	Reason     string
	Message    string
	Resources  *runtime.LinuxContainerResources
}

// Status returns the container's current state.
func (c *Container) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{State: c.state, PID: c.pid, StartedAt: c.startedAt, FinishedAt: c.finishedAt,
		ExitCode: c.exitCode, Reason: c.reason, Message: c.message, Resources: c.resources}
}

// nameKey is the key kubelet may not reuse while the container exists: the
// container's name and attempt within its pod.
func nameKey(m *runtime.ContainerMetadata, sandboxName string) string {
	return fmt.Sprintf("%s_%d_%s", m.GetName(), m.GetAttempt(), sandboxName)
}

// record is a container as checkpointed under the root dir.
type record struct {
	ID, SandboxID      string
	Config             []byte
	CreatedAt          time.Time
	ImageID, ImageName string
	ImageRef           string
	LogDir, LogPath    string
	Dir                string
	User               specs.User
	StopSignal         string
	NameKey            string
	CgroupPath         string
	Creating           bool
	State              State
	PID                uint32
	StartedAt          time.Time
	FinishedAt         time.Time
	ExitCode           int32
	Reason, Message    string
	OOMKilled          bool
	Resources          []byte
}

func (c *Container) record(creating bool) (*record, error) {
	cfg, err := proto.Marshal(c.Config)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var res []byte
	if c.resources != nil {
		if res, err = proto.Marshal(c.resources); err != nil {
			return nil, err
		}
	}
	return &record{
		ID: c.ID, SandboxID: c.SandboxID, Config: cfg, CreatedAt: c.CreatedAt,
		ImageID: c.ImageID, ImageName: c.ImageName, ImageRef: c.ImageRef, LogDir: c.LogDir, LogPath: c.LogPath, Dir: c.Dir,
		User: c.User, StopSignal: c.StopSignal, NameKey: c.NameKey, CgroupPath: c.CgroupPath, Creating: creating,
		State: c.state, PID: c.pid, StartedAt: c.startedAt, FinishedAt: c.finishedAt,
		ExitCode: c.exitCode, Reason: c.reason, Message: c.message, OOMKilled: c.oomKilled, Resources: res,
	}, nil
}

func (r *record) container() (*Container, error) {
	cfg := &runtime.ContainerConfig{}
	if err := proto.Unmarshal(r.Config, cfg); err != nil {
		return nil, fmt.Errorf("container %s: decode config: %w", r.ID, err)
	}
	c := &Container{
		ID: r.ID, SandboxID: r.SandboxID, Config: cfg, CreatedAt: r.CreatedAt,
		ImageID: r.ImageID, ImageName: r.ImageName, ImageRef: r.ImageRef, LogDir: r.LogDir, LogPath: r.LogPath, Dir: r.Dir,
		User: r.User, StopSignal: r.StopSignal, NameKey: r.NameKey, CgroupPath: r.CgroupPath,
		state: r.State, pid: r.PID, startedAt: r.StartedAt, finishedAt: r.FinishedAt,
		exitCode: r.ExitCode, reason: r.Reason, message: r.Message, oomKilled: r.OOMKilled,
		exited: make(chan struct{}),
	}
	if len(r.Resources) > 0 {
		c.resources = &runtime.LinuxContainerResources{}
		if err := proto.Unmarshal(r.Resources, c.resources); err != nil {
			return nil, fmt.Errorf("container %s: decode resources: %w", r.ID, err)
		}
	}
	if c.state == StateExited {
		close(c.exited)
	}
	return c, nil
}
