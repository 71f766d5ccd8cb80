package container

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
	"syscall"
	"testing"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/nri/pkg/api"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/image"
	"github.com/cricket-cri/cricket/internal/listbudget"
	"github.com/cricket-cri/cricket/sandbox"
)

// fakeImages holds one image, busybox.
type fakeImages struct{}

func (fakeImages) Get(_ context.Context, ref string) (*image.Image, error) {
	if ref != "busybox" {
		return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
	}
	return &image.Image{ID: "sha256:busybox", RepoTags: []string{"docker.io/library/busybox:latest"}, ChainID: "sha256:chain",
		Config: ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}}}, nil
}

func (fakeImages) SnapshotterRoot(context.Context) string { return "" }

// fakePods holds sandboxes by ID.
type fakePods struct {
	mu  sync.Mutex
	sbs map[string]*sandbox.Sandbox
}

func (p *fakePods) Get(id string) (*sandbox.Sandbox, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sb := p.sbs[id]; sb != nil {
		return sb, nil
	}
	return nil, fmt.Errorf("sandbox %q: %w", id, errdefs.ErrNotFound)
}

func (p *fakePods) List() []*sandbox.Sandbox {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*sandbox.Sandbox
	for _, sb := range p.sbs {
		out = append(out, sb)
	}
	return out
}

func (*fakePods) Features(sandbox.Runtime) sandbox.Features { return sandbox.Features{} }

func (*fakePods) CgroupsPath(sb *sandbox.Sandbox, id string) string {
	return "/cricket-unit-test/" + sb.ID + "/" + id
}

func (*fakePods) NRIPod(sb *sandbox.Sandbox) *api.PodSandbox { return &api.PodSandbox{Id: sb.ID} }

// fakeCtrd is containerd as far as containerdOps reaches: snapshots,
// container records, tasks and leases, kept in maps. fail makes an
// operation fail; with snapshotThenFail, newContainer prepares the
// snapshot before it fails (as a spec that cannot be generated does).
// Its tasks act as a shim: they hold the writing ends of the container's
// output FIFOs until their process exits, and a kill's exit reaches
// exits (the manager's HandleExit) as containerd's event would.
type fakeCtrd struct {
	mu               sync.Mutex
	fail             map[string]error
	failOnce         map[string]error
	snapshotThenFail bool
	leases           int
	snapshots        map[string]bool
	containers       map[string]*fakeContainer
	tasks            map[string]*fakeTask
	calls            []string
	exits            func(events.Exit)
	// onStart runs in a task's Start, and its error is Start's.
	onStart func(t *fakeTask) error
	nextPID uint32
}

func newFakeCtrd() *fakeCtrd {
	return &fakeCtrd{fail: map[string]error{}, failOnce: map[string]error{}, snapshots: map[string]bool{}, containers: map[string]*fakeContainer{},
		tasks: map[string]*fakeTask{}, nextPID: 100}
}

// call records an operation and returns its injected failure; under mu.
func (f *fakeCtrd) call(name string) error {
	f.calls = append(f.calls, name)
	if err := f.failOnce[name]; err != nil {
		delete(f.failOnce, name)
		return err
	}
	return f.fail[name]
}

func (f *fakeCtrd) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (f *fakeCtrd) lease(ctx context.Context) (context.Context, func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("lease"); err != nil {
		return ctx, func() {}, err
	}
	f.leases++
	return ctx, func() {
		f.mu.Lock()
		f.leases--
		f.mu.Unlock()
	}, nil
}

func (f *fakeCtrd) newContainer(_ context.Context, id string, _ ...client.NewContainerOpts) (client.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.call("newContainer")
	if err != nil && !f.snapshotThenFail {
		return nil, err
	}
	if f.snapshots[id] || f.containers[id] != nil {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrAlreadyExists)
	}
	f.snapshots[id] = true
	if err != nil {
		return nil, err
	}
	c := &fakeContainer{f: f, id: id, spec: &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}}
	f.containers[id] = c
	return c, nil
}

func (f *fakeCtrd) loadContainer(_ context.Context, id string) (client.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("loadContainer")
	if c := f.containers[id]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
}

func (f *fakeCtrd) newTask(_ context.Context, ctr client.Container, _ string, _ []mount.Mount, io cio.IO) (client.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("newTask"); err != nil {
		return nil, err
	}
	id := ctr.ID()
	if f.containers[id] == nil {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if f.tasks[id] != nil {
		return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrAlreadyExists)
	}
	f.nextPID++
	t := &fakeTask{f: f, id: id, pid: f.nextPID}
	// The shim's ends of the output FIFOs: cricket's reading ends are
	// open (non-blocking), so these opens return at once.
	for _, p := range []string{io.Config().Stdout, io.Config().Stderr} {
		if p == "" {
			continue
		}
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.closeOutput()
			return nil, err
		}
		t.out = append(t.out, w)
	}
	f.tasks[id] = t
	return t, nil
}

func (f *fakeCtrd) deleteTask(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("deleteTask"); err != nil {
		return err
	}
	return f.deleteTaskLocked(id)
}

func (f *fakeCtrd) deleteTaskLocked(id string) error {
	t := f.tasks[id]
	if t == nil {
		return fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
	}
	t.exitLocked()
	delete(f.tasks, id)
	return nil
}

func (f *fakeCtrd) removeSnapshot(_ context.Context, _, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("removeSnapshot"); err != nil {
		return err
	}
	if !f.snapshots[key] {
		return fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
	}
	delete(f.snapshots, key)
	return nil
}

func (f *fakeCtrd) deleteRecord(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("deleteRecord"); err != nil {
		return err
	}
	if f.containers[id] == nil {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	delete(f.containers, id)
	return nil
}

// fakeContainer is a containerd container handle; only what the tested
// paths call is implemented (the embedded interface is nil).
type fakeContainer struct {
	client.Container
	f    *fakeCtrd
	id   string
	spec *oci.Spec // under f.mu
}

func (c *fakeContainer) ID() string { return c.id }

func (c *fakeContainer) Spec(context.Context) (*oci.Spec, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	b, err := json.Marshal(c.spec)
	if err != nil {
		return nil, err
	}
	var s oci.Spec
	return &s, json.Unmarshal(b, &s)
}

func (c *fakeContainer) Update(ctx context.Context, opts ...client.UpdateContainerOpts) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.f.call("containerUpdate"); err != nil {
		return err
	}
	if c.f.containers[c.id] != c {
		return fmt.Errorf("container %s: %w", c.id, errdefs.ErrNotFound)
	}
	rec := &containers.Container{ID: c.id}
	for _, o := range opts {
		if err := o(ctx, nil, rec); err != nil {
			return err
		}
	}
	if rec.Spec != nil {
		var s oci.Spec
		if err := json.Unmarshal(rec.Spec.GetValue(), &s); err != nil {
			return err
		}
		c.spec = &s
	}
	return nil
}

func (c *fakeContainer) Task(context.Context, cio.Attach) (client.Task, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if t := c.f.tasks[c.id]; t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("no running task found: task %s not found: %w", c.id, errdefs.ErrNotFound)
}

// Delete deletes the record and, as every caller asks, the snapshot.
func (c *fakeContainer) Delete(context.Context, ...client.DeleteOpts) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.call("containerDelete")
	if c.f.tasks[c.id] != nil {
		return fmt.Errorf("container %s has a task: %w", c.id, errdefs.ErrFailedPrecondition)
	}
	if c.f.containers[c.id] == nil {
		return fmt.Errorf("container %s: %w", c.id, errdefs.ErrNotFound)
	}
	delete(c.f.containers, c.id)
	delete(c.f.snapshots, c.id)
	return nil
}

// fakeTask is a task handle and its process; only what the tested paths
// call is implemented.
type fakeTask struct {
	client.Task
	f        *fakeCtrd
	id       string
	pid      uint32
	exited   bool
	code     uint32
	exitedAt time.Time
	out      []*os.File
}

// Status is the process's state, as containerd reads it from the shim.
func (t *fakeTask) Status(context.Context) (client.Status, error) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.f.tasks[t.id] != t {
		return client.Status{}, fmt.Errorf("task %s: %w", t.id, errdefs.ErrNotFound)
	}
	if t.exited {
		return client.Status{Status: client.Stopped, ExitStatus: t.code, ExitTime: t.exitedAt}, nil
	}
	return client.Status{Status: client.Running}, nil
}

func (t *fakeTask) ID() string  { return t.id }
func (t *fakeTask) Pid() uint32 { return t.pid }

func (t *fakeTask) Start(context.Context) error {
	t.f.mu.Lock()
	err := t.f.call("taskStart")
	onStart := t.f.onStart
	t.f.mu.Unlock()
	if err != nil {
		return err
	}
	if onStart != nil {
		return onStart(t)
	}
	return nil
}

// Kill ends the process (whatever the signal: the fake's processes heed
// every one) and reports its exit.
func (t *fakeTask) Kill(_ context.Context, sig syscall.Signal, _ ...client.KillOpts) error {
	t.f.mu.Lock()
	if t.f.tasks[t.id] != t {
		t.f.mu.Unlock()
		return fmt.Errorf("task %s: %w", t.id, errdefs.ErrNotFound)
	}
	t.f.call("kill")
	was := t.exited
	t.exitLocked()
	if !was {
		t.code = 128 + uint32(sig)
	}
	exits := t.f.exits
	t.f.mu.Unlock()
	if !was && exits != nil {
		go exits(events.Exit{ContainerID: t.id, PID: t.pid, Status: 128 + uint32(sig), At: time.Now()})
	}
	return nil
}

func (t *fakeTask) Delete(context.Context, ...client.ProcessDeleteOpts) (*client.ExitStatus, error) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.call("taskDelete")
	if t.f.tasks[t.id] != t {
		return nil, fmt.Errorf("task %s: %w", t.id, errdefs.ErrNotFound)
	}
	return nil, t.f.deleteTaskLocked(t.id)
}

// Update changes the cgroup of a task whose process runs.
func (t *fakeTask) Update(context.Context, ...client.UpdateTaskOpts) error {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.call("taskUpdate")
	if t.f.tasks[t.id] != t || t.exited {
		return fmt.Errorf("task %s: %w", t.id, errdefs.ErrNotFound)
	}
	return nil
}

func (t *fakeTask) CloseIO(context.Context, ...client.IOCloserOpts) error { return nil }

// exitLocked ends the process: its output closes. Under f.mu.
func (t *fakeTask) exitLocked() {
	if !t.exited {
		t.exited, t.exitedAt = true, time.Now()
	}
	t.closeOutput()
}

func (t *fakeTask) closeOutput() {
	for _, w := range t.out {
		w.Close()
	}
	t.out = nil
}

// harness is a container Manager on fakes, with one ready sandbox.
type harness struct {
	m      *Manager
	ctrd   *fakeCtrd
	pods   *fakePods
	sb     *sandbox.Sandbox
	budget *listbudget.Budget
	events *events.Subscription
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{ctrd: newFakeCtrd(), budget: listbudget.New(1 << 20)}
	h.sb = sandbox.ForTest(sandbox.Metadata{
		ID: "pod1",
		Config: &runtime.PodSandboxConfig{
			Metadata: &runtime.PodSandboxMetadata{Name: "web", Namespace: "ns", Uid: "uid1"},
			Linux: &runtime.LinuxPodSandboxConfig{SecurityContext: &runtime.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER},
			}},
		},
		RuntimeHandler: "runc",
		Runtime:        sandbox.Runtime{Handler: "runc", Type: "io.containerd.runc.v2", Options: &runcoptions.Options{}},
		NetNSPath:      filepath.Join(dir, "netns"),
		Dir:            filepath.Join(dir, "pod1"),
		Pinned:         true,
	}, sandbox.Status{State: sandbox.StateReady})
	h.pods = &fakePods{sbs: map[string]*sandbox.Sandbox{"pod1": h.sb}}
	broker := &events.Broker{}
	h.events = broker.Subscribe(100)
	t.Cleanup(h.events.Close)
	h.m = &Manager{
		opts: Options{
			Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"), Namespace: "test",
			Snapshotter: "overlayfs", Events: broker, ListBudget: h.budget,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		},
		ctrd: h.ctrd, images: fakeImages{}, sandboxes: h.pods, store: newStore(),
		recoverySem: make(chan struct{}, recoveryFinishers),
	}
	h.ctrd.exits = h.m.HandleExit
	return h
}

func ctrConfig(name string) *runtime.ContainerConfig {
	return &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: name},
		Image:    &runtime.ImageSpec{Image: "busybox"},
		Command:  []string{"sleep", "3600"},
	}
}

// create creates a container named name and drains its Created event.
func (h *harness) create(t *testing.T, name string) *Container {
	t.Helper()
	id, err := h.m.Create(context.Background(), "pod1", ctrConfig(name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.m.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	h.published()
	return c
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

// left lists what containers left behind anywhere: in the Manager's
// memory (store, name reservation, list budget, published events) and
// outside it (see leftOutside), leases included.
func (h *harness) left(name string) []string {
	var left []string
	for _, c := range h.m.store.list("") {
		left = append(left, "store entry "+c.ID)
	}
	key := nameKey(&runtime.ContainerMetadata{Name: name}, h.sb.Name())
	if err := h.m.names.Reserve(key, "probe"); err != nil {
		left = append(left, "name reservation: "+err.Error())
	} else {
		h.m.names.Release(key, "probe")
	}
	if n := h.budget.Used(); n != 0 {
		left = append(left, fmt.Sprintf("%d bytes of the list budget", n))
	}
	// A successful creation ends its lease in the background.
	for i := 0; i < 100 && h.leases() != 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.leases(); n != 0 {
		left = append(left, fmt.Sprintf("%d leases", n))
	}
	for _, k := range h.published() {
		left = append(left, fmt.Sprintf("event %v", k))
	}
	left = append(left, h.leftOutside()...)
	slices.Sort(left)
	return left
}

// leftOutside lists what outlives a crash of cricketd but for leases
// (which start-up deletes): checkpoints, the state directory, snapshots,
// containerd containers and tasks.
func (h *harness) leftOutside() []string {
	var left []string
	for _, d := range []string{filepath.Join(h.m.opts.Root, "containers"), filepath.Join(h.m.opts.State, "containers")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			left = append(left, filepath.Join(d, e.Name()))
		}
	}
	h.ctrd.mu.Lock()
	defer h.ctrd.mu.Unlock()
	for k := range h.ctrd.snapshots {
		left = append(left, "snapshot "+k)
	}
	for id := range h.ctrd.containers {
		left = append(left, "containerd container "+id)
	}
	for id := range h.ctrd.tasks {
		left = append(left, "task "+id)
	}
	return left
}

func (h *harness) leases() int {
	h.ctrd.mu.Lock()
	defer h.ctrd.mu.Unlock()
	return h.ctrd.leases
}

// await drains events until it has seen want (in any order, with any
// others between), or gives up after a while; it returns all it drained.
// An exit's Stopped event is published with the exit's record, which is
// what Stop waits for.
func (h *harness) await(t *testing.T, want ...events.Kind) []events.Kind {
	t.Helper()
	var got []events.Kind
	missing := slices.Clone(want)
	deadline := time.After(5 * time.Second)
	for len(missing) > 0 {
		select {
		case e := <-h.events.C:
			got = append(got, e.Kind)
			if i := slices.Index(missing, e.Kind); i >= 0 {
				missing = slices.Delete(missing, i, i+1)
			}
		case <-deadline:
			t.Errorf("events %v; %v missing", got, missing)
			return got
		}
	}
	// Anything published right after.
	time.Sleep(10 * time.Millisecond)
	return append(got, h.published()...)
}
