// Package sandbox runs pod sandboxes: a pause container whose namespaces
// the pod's containers join (or, in pinned mode, namespaces pinned by bind
// mounts and a shim started ahead), the pod's network (through package network),
// its /etc files and /dev/shm, and the in-memory store that the CRI reads,
// rebuilt from checkpoints after a restart.
package sandbox

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/checkpoint"
	"github.com/cricket-cri/cricket/internal/listbudget"
)

// State of a sandbox as the CRI reports it.
type State int

const (
	StateNotReady State = iota
	StateReady
)

func (s State) String() string {
	if s == StateReady {
		return "ready"
	}
	return "notready"
}

// Sandbox is one pod sandbox. Its three parts differ in how they change:
//
//   - Metadata is set while the sandbox is created, before anyone else
//     sees it, and never changes after: it is read without a lock.
//   - status (Status) is its state as the CRI reports it and its
//     checkpoint keeps it. It changes only through update, which changes
//     and checkpoints it in one critical section under mu.
//   - The fields after status are volatile: handles and flags that live as
//     long as this cricketd does. They are read and changed directly under
//     mu; none is checkpointed.
//
// Locks, in the order they are taken (none is taken while holding one
// that comes later): op, then a container's op (StopPodSandbox and
// RemovePodSandbox stop and remove the pod's containers), and last mu or
// a container's mu, each on its own (these two are never held together).
//
//   - op serializes the lifecycle operations (stop, remove, resource
//     updates) and is held across containerd and CNI calls.
//   - mu guards status and the volatile fields. It is held only to read or
//     change them and, in update, for the checkpoint write: never across a
//     containerd call or a lock other than itself. Events are published
//     after it is released: a subscriber reads Status.
type Sandbox struct {
	Metadata
	// listCharge is the sandbox's share of the list budget, returned
	// when it is removed.
	listCharge *listbudget.Charge

	op sync.Mutex
	mu sync.Mutex

	status Status

	// file is the sandbox's checkpoint, written durably: after a reboot,
	// it is what releases the pod's address (CNI DEL).
	file checkpoint.File
	// pauseTask is the client's handle of the pause container's task,
	// kept from its creation (nil: load it; see pauseController.task);
	// pauseReleased: the task is deleted; pauseOwned: this cricketd
	// created the pause container (its snapshot is the configured
	// snapshotter's, named by the sandbox ID).
	pauseTask                 client.Task
	pauseReleased, pauseOwned bool
	// pauseSpec is the pause container's runtime spec as containerd
	// stores it (JSON), for the verbose status: kept from its creation,
	// or read once (nil until then, e.g. after a restart).
	pauseSpec []byte
	// stopped is set once a stop finished every step (pause process
	// killed and deleted, network torn down, checkpoint written): a
	// sandbox never runs again, so later stops have nothing left to do.
	// After a restart the first stop runs in full.
	stopped bool
	// stopping is set when a stop begins: containers are no longer
	// created or started in the pod (a start racing the stop would run in
	// namespaces about to lose their network), and the pause process's
	// exit reads as expected, not as a pause that died on its own. A stop
	// interrupted by a restart is begun again.
	stopping bool
}

// Metadata is what a sandbox is created with. Its checkpoint holds it as
// it is, but for Config and Runtime, which go in their own encoding (see
// record).
type Metadata struct {
	ID             string
	Config         *runtime.PodSandboxConfig `json:"-"`
	RuntimeHandler string
	CreatedAt      time.Time
	// NetNSPath is the pod's network namespace; empty for host network.
	NetNSPath string
	// CgroupParent is the pod's cgroup parent as given by kubelet.
	CgroupParent string
	// Dir holds the pod's volatile files: hostname, hosts, resolv.conf, shm.
	Dir string
	// Image is the sandbox image's ID; empty for a pinned sandbox.
	Image string
	// Pinned is set when no pause process holds the pod's namespaces:
	// they are bind mounts under Dir/ns (see pinnedController).
	Pinned bool `json:",omitempty"`
	// ShimAddress is the socket of the shim started ahead of a pinned
	// sandbox's first container.
	ShimAddress string `json:",omitempty"`
	// Runtime is what RuntimeHandler resolved to when the pod was
	// created; its containers run on it whatever a reload did to the
	// handler since (see PodRuntime).
	Runtime Runtime `json:"-"`
}

// Status is a sandbox's changing state, as the CRI reports it and its
// checkpoint keeps it (Overhead and Resources in their protobuf encoding,
// see record).
type Status struct {
	// Creating is set until RunPodSandbox finished: a checkpoint still
	// creating after a crash is rolled back at start-up.
	Creating      bool
	State         State
	PID           uint32
	IP            string
	AdditionalIPs []string
	CNIResult     json.RawMessage
	// NetAttached is true while the pod holds a CNI attachment (an IP).
	NetAttached bool
	// ExitedAt is when the pause process exited, if it did.
	ExitedAt time.Time
	// Overhead and Resources are what kubelet's last
	// UpdatePodSandboxResources said (see Manager.UpdateResources).
	Overhead  *runtime.LinuxContainerResources `json:"-"`
	Resources *runtime.LinuxContainerResources `json:"-"`
}

// Status returns the sandbox's current state.
func (s *Sandbox) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Stopping reports whether a stop began: the pod takes no new containers.
func (s *Sandbox) Stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// update is the one way a sandbox's status changes: under mu, fn edits a
// copy of it, the copy is checkpointed and only then becomes the status
// (see checkpoint.Update for how and what it returns). Once the checkpoint
// is removed, the status changes in memory only. fn runs under mu: it
// must not call what takes mu (Status, Stopping).
func (s *Sandbox) update(how checkpoint.Change, fn func(*Status) bool) error {
	// The config never changes: encoded before the lock is taken.
	cfg, err := checkpoint.EncodeFor(how, s.Config)
	if err != nil {
		return fmt.Errorf("checkpoint sandbox %s: %w", s.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return checkpoint.Update(&s.status, how, func(st Status) error {
		rec := &record{Metadata: s.Metadata, Status: st, Config: cfg, Runtime: s.Runtime.record()}
		var err error
		if rec.Overhead, err = checkpoint.EncodeFor(how, st.Overhead); err == nil {
			rec.Resources, err = checkpoint.EncodeFor(how, st.Resources)
		}
		if err != nil {
			return fmt.Errorf("checkpoint sandbox %s: %w", s.ID, err)
		}
		return s.file.Write(rec)
	}, fn)
}

// removeCheckpoint removes the sandbox's checkpoint for good.
func (s *Sandbox) removeCheckpoint() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.file.Remove(); err != nil {
		return fmt.Errorf("remove checkpoint of sandbox %s: %w", s.ID, err)
	}
	return nil
}

// Name returns the pod's name, namespace, uid and attempt as one key: the
// name kubelet may not reuse while the sandbox exists.
func (s *Sandbox) Name() string { return nameKey(s.Config.GetMetadata()) }

func nameKey(m *runtime.PodSandboxMetadata) string {
	return fmt.Sprintf("%s_%s_%s_%d", m.GetName(), m.GetNamespace(), m.GetUid(), m.GetAttempt())
}

// HostNetwork reports whether the pod uses the node's network namespace.
func (s *Sandbox) HostNetwork() bool {
	return s.namespaceMode().GetNetwork() == runtime.NamespaceMode_NODE
}

// HostIPC reports whether the pod uses the node's IPC namespace.
func (s *Sandbox) HostIPC() bool { return s.namespaceMode().GetIpc() == runtime.NamespaceMode_NODE }

// PIDMode is the pod's PID namespace mode (POD, CONTAINER, NODE).
func (s *Sandbox) PIDMode() runtime.NamespaceMode { return s.namespaceMode().GetPid() }

func (s *Sandbox) namespaceMode() *runtime.NamespaceOption {
	return s.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
}

// NamespacePath returns the path a container joins for the pod's namespace
// of type t (network, ipc, uts, pid), or "" when the pod uses the host's.
func (s *Sandbox) NamespacePath(t specs.LinuxNamespaceType) string {
	if t == specs.NetworkNamespace {
		return s.NetNSPath
	}
	if s.Pinned {
		// A pinned sandbox has no PID or user namespace of its own (it
		// would need a process): containers get their own PID namespace.
		if t == specs.IPCNamespace || t == specs.UTSNamespace {
			return s.pinPath(t)
		}
		return ""
	}
	pid := s.Status().PID
	name := map[specs.LinuxNamespaceType]string{specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.PIDNamespace: "pid", specs.UserNamespace: "user"}[t]
	if name == "" || pid == 0 {
		return ""
	}
	return filepath.Join("/proc", strconv.FormatUint(uint64(pid), 10), "ns", name)
}

// pinPath is where a pinned sandbox's namespace of type t is bind-mounted.
func (s *Sandbox) pinPath(t specs.LinuxNamespaceType) string {
	return filepath.Join(s.Dir, "ns", string(t))
}

// Files the pod's containers mount.
func (s *Sandbox) HostnamePath() string   { return filepath.Join(s.Dir, "hostname") }
func (s *Sandbox) HostsPath() string      { return filepath.Join(s.Dir, "hosts") }
func (s *Sandbox) ResolvConfPath() string { return filepath.Join(s.Dir, "resolv.conf") }

// ShmPath is the pod's /dev/shm, or the host's for host IPC.
func (s *Sandbox) ShmPath() string {
	if s.HostIPC() {
		return "/dev/shm"
	}
	return filepath.Join(s.Dir, "shm")
}

// record is a sandbox as checkpointed under the root dir: its metadata
// and status, with the protobuf messages encoded and the runtime as
// runtimeRecord.
type record struct {
	Metadata
	Status
	Config []byte // protobuf PodSandboxConfig
	// Runtime is the runtime the handler resolved to at creation; nil in
	// checkpoints written before it was recorded.
	Runtime *runtimeRecord `json:",omitempty"`
	// Overhead and Resources are protobuf LinuxContainerResources from
	// UpdatePodSandboxResources.
	Overhead  []byte `json:",omitempty"`
	Resources []byte `json:",omitempty"`
}

// sandbox is the sandbox a checkpoint at path describes.
func (r *record) sandbox(path string) (*Sandbox, error) {
	sb := &Sandbox{Metadata: r.Metadata, status: r.Status, file: checkpoint.File{Path: path, Durable: true}}
	sb.Config = &runtime.PodSandboxConfig{}
	if err := proto.Unmarshal(r.Config, sb.Config); err != nil {
		return nil, fmt.Errorf("sandbox %s: decode config: %w", r.ID, err)
	}
	sb.Runtime = r.Runtime.runtime(r.RuntimeHandler)
	var err error
	if sb.status.Overhead, err = unmarshalOptional(r.Overhead); err != nil {
		return nil, fmt.Errorf("sandbox %s: decode overhead: %w", r.ID, err)
	}
	if sb.status.Resources, err = unmarshalOptional(r.Resources); err != nil {
		return nil, fmt.Errorf("sandbox %s: decode resources: %w", r.ID, err)
	}
	return sb, nil
}

func unmarshalOptional(b []byte) (*runtime.LinuxContainerResources, error) {
	if b == nil {
		return nil, nil
	}
	r := &runtime.LinuxContainerResources{}
	return r, proto.Unmarshal(b, r)
}
