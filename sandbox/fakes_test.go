package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/listbudget"
	"github.com/cricket-cri/cricket/network"
)

// fakeNet is a pod network that records what it holds: namespaces by
// path, attachments by sandbox ID. fail makes a method fail; an Attach
// that fails still holds its address (a CNI chain that failed half way).
type fakeNet struct {
	dir string

	mu        sync.Mutex
	fail      map[string]error
	netns     map[string]bool
	attached  map[string]bool
	attaching int
	calls     []string
	// wrong lists calls made when they must not be (a Detach while an
	// Attach runs).
	wrong []string
}

func newFakeNet(dir string) *fakeNet {
	return &fakeNet{dir: dir, fail: map[string]error{}, netns: map[string]bool{}, attached: map[string]bool{}}
}

func (n *fakeNet) call(name string) error {
	n.calls = append(n.calls, name)
	return n.fail[name]
}

func (n *fakeNet) Ready() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.call("Ready")
}

func (n *fakeNet) NetNSPath(id string) string { return filepath.Join(n.dir, id) }

func (n *fakeNet) NewNetNS(id string) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.call("NewNetNS"); err != nil {
		return "", err
	}
	n.netns[n.NetNSPath(id)] = true
	return n.NetNSPath(id), nil
}

func (n *fakeNet) PinNetNS(id string, pid uint32) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.call("PinNetNS"); err != nil {
		return "", err
	}
	if pid == 0 {
		n.wrong = append(n.wrong, "PinNetNS without a process")
	}
	n.netns[n.NetNSPath(id)] = true
	return n.NetNSPath(id), nil
}

func (n *fakeNet) RemoveNetNS(path string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.call("RemoveNetNS"); err != nil {
		return err
	}
	delete(n.netns, path)
	return nil
}

func (n *fakeNet) Attach(_ context.Context, pod network.Pod) (*network.Attachment, error) {
	n.mu.Lock()
	n.attaching++
	if !n.netns[pod.NetNSPath] {
		n.wrong = append(n.wrong, "Attach without a namespace")
	}
	n.attached[pod.SandboxID] = true
	err := n.call("Attach")
	n.mu.Unlock()
	// A plugin chain takes a while: an undo that does not wait for it
	// shows as a Detach during the Attach.
	time.Sleep(2 * time.Millisecond)
	n.mu.Lock()
	n.attaching--
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &network.Attachment{IP: "10.85.0.7", CNIResult: json.RawMessage(`{}`)}, nil
}

func (n *fakeNet) Detach(_ context.Context, pod network.Pod) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.attaching > 0 {
		n.wrong = append(n.wrong, "Detach during an Attach")
	}
	if err := n.call("Detach"); err != nil {
		return err
	}
	delete(n.attached, pod.SandboxID)
	return nil
}

func (n *fakeNet) Collect(context.Context, map[string]bool) error { return nil }

func (n *fakeNet) OrphanNetNS(map[string]bool) []string { return nil }

// fakeImages serves the sandbox image, or err.
type fakeImages struct {
	mu    sync.Mutex
	err   error
	calls int
}

func (f *fakeImages) Ensure(_ context.Context, ref string) (*image.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &image.Image{ID: "sha256:pause", RepoTags: []string{ref}, ChainID: "sha256:chain"}, nil
}

// fakeController holds sandboxes' namespaces in a map. fail makes a method
// fail; a Create that fails has created its object anyway (a task whose
// creation failed after its container was made). onStop runs in Stop.
type fakeController struct {
	mu      sync.Mutex
	fail    map[string]error
	created map[string]bool
	running map[string]bool
	calls   []string
	onStop  func(sb *Sandbox)
}

func newFakeController() *fakeController {
	return &fakeController{fail: map[string]error{}, created: map[string]bool{}, running: map[string]bool{}}
}

func (c *fakeController) call(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, name)
	return c.fail[name]
}

func (c *fakeController) Create(_ context.Context, sb *Sandbox, _ *image.Image) (uint32, error) {
	c.mu.Lock()
	c.created[sb.ID] = true
	c.mu.Unlock()
	if err := c.call("Create"); err != nil {
		return 0, err
	}
	return 4242, nil
}

func (c *fakeController) Start(_ context.Context, sb *Sandbox) error {
	if err := c.call("Start"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.created[sb.ID] {
		return fmt.Errorf("start of %s before its creation", sb.ID)
	}
	c.running[sb.ID] = true
	return nil
}

func (c *fakeController) Stop(_ context.Context, sb *Sandbox) error {
	if err := c.call("Stop"); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.running, sb.ID)
	onStop := c.onStop
	c.mu.Unlock()
	if onStop != nil {
		onStop(sb)
	}
	return nil
}

func (c *fakeController) Release(context.Context, *Sandbox) error { return c.call("Release") }

func (c *fakeController) Delete(_ context.Context, sb *Sandbox) error {
	if err := c.call("Delete"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.created, sb.ID)
	delete(c.running, sb.ID)
	return nil
}

func (c *fakeController) Running(_ context.Context, sb *Sandbox) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running[sb.ID], nil
}

func (c *fakeController) Spec(context.Context, *Sandbox) (json.RawMessage, error) { return nil, nil }

// harness is a Manager on fakes, with its root and state in a temporary
// directory.
type harness struct {
	m      *Manager
	net    *fakeNet
	images *fakeImages
	ctl    *fakeController
	budget *listbudget.Budget
	events *events.Subscription
}

func newHarness(t *testing.T, pinned bool) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		net:    newFakeNet(filepath.Join(dir, "netns")),
		images: &fakeImages{},
		ctl:    newFakeController(),
		budget: listbudget.New(1 << 20),
	}
	broker := &events.Broker{}
	h.events = broker.Subscribe(100)
	t.Cleanup(h.events.Close)
	h.m = New(nil, nil, nil, Options{
		Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"),
		Namespace: "test", Config: config.NewLive(config.Default()),
		Pinned: pinned, Events: broker, ListBudget: h.budget,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	h.m.network, h.m.images = h.net, h.images
	h.m.pause, h.m.pinned = h.ctl, h.ctl
	return h
}

// left lists what a sandbox left behind anywhere: in the Manager's memory
// (store, name reservation, list budget, published events) and outside
// it (see leftOutside).
func (h *harness) left(name string) []string {
	var left []string
	for _, sb := range h.m.store.List(nil) {
		left = append(left, "store entry "+sb.ID)
	}
	if err := h.m.names.Reserve(name, "probe"); err != nil {
		left = append(left, "name reservation: "+err.Error())
	} else {
		h.m.names.Release(name, "probe")
	}
	if n := h.budget.Used(); n != 0 {
		left = append(left, fmt.Sprintf("%d bytes of the list budget", n))
	}
	for _, k := range h.published() {
		left = append(left, fmt.Sprintf("event %v", k))
	}
	left = append(left, h.leftOutside()...)
	slices.Sort(left)
	return left
}

// leftOutside lists what outlives a crash of cricketd: checkpoints, the
// state directory, network namespaces and attachments, holders.
func (h *harness) leftOutside() []string {
	var left []string
	for _, d := range []string{filepath.Join(h.m.opts.Root, "sandboxes"), filepath.Join(h.m.opts.State, "sandboxes")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			left = append(left, filepath.Join(d, e.Name()))
		}
	}
	h.net.mu.Lock()
	for p := range h.net.netns {
		left = append(left, "network namespace "+p)
	}
	for id := range h.net.attached {
		left = append(left, "network attachment of "+id)
	}
	left = append(left, h.net.wrong...)
	h.net.mu.Unlock()
	h.ctl.mu.Lock()
	for id := range h.ctl.created {
		left = append(left, "namespace holder of "+id)
	}
	h.ctl.mu.Unlock()
	return left
}

func podConfig(name string) *runtime.PodSandboxConfig {
	return &runtime.PodSandboxConfig{
		Metadata: &runtime.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: "uid-" + name},
		Hostname: name,
		Linux: &runtime.LinuxPodSandboxConfig{SecurityContext: &runtime.LinuxSandboxSecurityContext{
			// No /dev/shm mount: the tests run unprivileged too.
			NamespaceOptions: &runtime.NamespaceOption{Ipc: runtime.NamespaceMode_NODE},
		}},
	}
}

// published drains the events published so far, and returns their kinds.
func (h *harness) published() []events.Kind {
	var kinds []events.Kind
	for {
		select {
		case e := <-h.events.C:
			kinds = append(kinds, e.Kind)
		default:
			return kinds
		}
	}
}

var jsonUnmarshal = json.Unmarshal
