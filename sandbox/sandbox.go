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

// Sandbox is one pod sandbox. Fields above mu never change after creation;
// fields below it are guarded by mu.
type Sandbox struct {
	ID             string
	Config         *runtime.PodSandboxConfig
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
	Pinned bool
	// Runtime is what RuntimeHandler resolved to when the pod was
	// created; its containers run on it whatever a reload did to the
	// handler since (see PodRuntime).
	Runtime Runtime
	// listCharge is the sandbox's share of the list budget, returned
	// when it is removed.
	listCharge *listbudget.Charge

	// op serializes lifecycle operations (stop, remove) on this sandbox.
	op sync.Mutex

	mu            sync.Mutex
	state         State
	pid           uint32
	ip            string
	additionalIPs []string
	cniResult     json.RawMessage
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
	// netAttached is true while the pod holds a CNI attachment (an IP).
	netAttached bool
	// shimAddress is the socket of the shim started ahead of a pinned
	// sandbox's first container.
	shimAddress string
	// exitedAt is when the pause process exited, if it did.
	exitedAt time.Time
	// stopped is set once a stop finished every step (pause process
	// killed and deleted, network torn down, checkpoint written): a
	// sandbox never runs again, so later stops have nothing left to do.
	// Not checkpointed: after a restart the first stop runs in full.
	stopped bool
	// stopping is set when a stop begins: containers are no longer
	// created or started in the pod (a start racing the stop would run in
	// namespaces about to lose their network), and the pause process's
	// exit reads as expected, not as a pause that died on its own. Not
	// checkpointed: a stop interrupted by a restart is begun again.
	stopping bool
	// overhead and resources are what kubelet's last
	// UpdatePodSandboxResources said (see Manager.UpdateResources).
	overhead, resources *runtime.LinuxContainerResources
}

// Status is a consistent snapshot of a sandbox's mutable state.
type Status struct {
	State         State
	PID           uint32
	IP            string
	AdditionalIPs []string
	CNIResult     json.RawMessage
	// Stopping is set once a stop began: the pod takes no new containers.
	Stopping bool
}

// Status returns the sandbox's current state.
func (s *Sandbox) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{State: s.state, PID: s.pid, IP: s.ip, AdditionalIPs: s.additionalIPs, CNIResult: s.cniResult, Stopping: s.stopping}
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
	s.mu.Lock()
	pid := s.pid
	s.mu.Unlock()
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

// record is a sandbox as checkpointed under the root dir.
type record struct {
	ID             string
	Config         []byte // protobuf PodSandboxConfig
	RuntimeHandler string
	CreatedAt      time.Time
	NetNSPath      string
	CgroupParent   string
	Dir            string
	Image          string
	Pinned         bool   `json:",omitempty"`
	ShimAddress    string `json:",omitempty"`
	// Runtime is the runtime the handler resolved to at creation; nil in
	// checkpoints written before it was recorded.
	Runtime *runtimeRecord `json:",omitempty"`
	// Creating is set until RunPodSandbox finished: a record still
	// creating after a crash is rolled back at start-up.
	Creating      bool
	State         State
	PID           uint32
	IP            string
	AdditionalIPs []string
	CNIResult     json.RawMessage
	NetAttached   bool
	ExitedAt      time.Time
	// Overhead and Resources are protobuf LinuxContainerResources from
	// UpdatePodSandboxResources.
	Overhead  []byte `json:",omitempty"`
	Resources []byte `json:",omitempty"`
}

func (s *Sandbox) record(creating bool) (*record, error) {
	cfg, err := proto.Marshal(s.Config)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	overhead, err := marshalOptional(s.overhead)
	if err != nil {
		return nil, err
	}
	resources, err := marshalOptional(s.resources)
	if err != nil {
		return nil, err
	}
	return &record{
		ID: s.ID, Config: cfg, RuntimeHandler: s.RuntimeHandler, Runtime: s.Runtime.record(), CreatedAt: s.CreatedAt,
		NetNSPath: s.NetNSPath, CgroupParent: s.CgroupParent, Dir: s.Dir, Image: s.Image,
		Pinned: s.Pinned, ShimAddress: s.shimAddress, Creating: creating, State: s.state, PID: s.pid, IP: s.ip, AdditionalIPs: s.additionalIPs,
		CNIResult: s.cniResult, NetAttached: s.netAttached, ExitedAt: s.exitedAt,
		Overhead: overhead, Resources: resources,
	}, nil
}

func (r *record) sandbox() (*Sandbox, error) {
	cfg := &runtime.PodSandboxConfig{}
	if err := proto.Unmarshal(r.Config, cfg); err != nil {
		return nil, fmt.Errorf("sandbox %s: decode config: %w", r.ID, err)
	}
	overhead, err := unmarshalOptional(r.Overhead)
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: decode overhead: %w", r.ID, err)
	}
	resources, err := unmarshalOptional(r.Resources)
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: decode resources: %w", r.ID, err)
	}
	return &Sandbox{
		ID: r.ID, Config: cfg, RuntimeHandler: r.RuntimeHandler, Runtime: r.Runtime.runtime(r.RuntimeHandler), CreatedAt: r.CreatedAt,
		NetNSPath: r.NetNSPath, CgroupParent: r.CgroupParent, Dir: r.Dir, Image: r.Image,
		Pinned: r.Pinned, shimAddress: r.ShimAddress, state: r.State, pid: r.PID, ip: r.IP, additionalIPs: r.AdditionalIPs, cniResult: r.CNIResult,
		netAttached: r.NetAttached, exitedAt: r.ExitedAt, overhead: overhead, resources: resources,
	}, nil
}

func marshalOptional(r *runtime.LinuxContainerResources) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	return proto.Marshal(r)
}

func unmarshalOptional(b []byte) (*runtime.LinuxContainerResources, error) {
	if b == nil {
		return nil, nil
	}
	r := &runtime.LinuxContainerResources{}
	return r, proto.Unmarshal(b, r)
}
