package nri

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"

	"github.com/cricket-cri/cricket/config"
)

func TestDefaultsAreTheLibrarys(t *testing.T) {
	c := config.Default().NRI
	if c.Enable {
		t.Error("NRI is on by default")
	}
	if c.SocketPath != adaptation.DefaultSocketPath || c.PluginPath != adaptation.DefaultPluginPath || c.PluginConfigPath != adaptation.DefaultPluginConfigPath {
		t.Errorf("paths %+v differ from the library's defaults", c)
	}
	if time.Duration(c.PluginRegistrationTimeout) != adaptation.DefaultPluginRegistrationTimeout || time.Duration(c.PluginRequestTimeout) != adaptation.DefaultPluginRequestTimeout {
		t.Errorf("timeouts %+v differ from the library's defaults", c)
	}
}

func TestDisabledIsNil(t *testing.T) {
	n, err := New(Options{Config: config.Default().NRI})
	if n != nil || err != nil {
		t.Fatalf("New(disabled) = %v, %v; want nil, nil", n, err)
	}
	// Every method of the nil NRI does nothing.
	ctx := context.Background()
	if n.Enabled() || n.Start(nil) != nil || n.RunPodSandbox(ctx, &api.PodSandbox{}) != nil {
		t.Fatal("nil NRI acts")
	}
	if adj, err := n.CreateContainer(ctx, &api.PodSandbox{}, &api.Container{}); adj != nil || err != nil {
		t.Fatal("nil NRI adjusts")
	}
	n.Stop()
}

// fakeDomain is one pod with one running container.
type fakeDomain struct {
	mu      sync.Mutex
	updated map[string]*api.LinuxResources
}

func (d *fakeDomain) ListPodSandboxes() []*api.PodSandbox {
	return []*api.PodSandbox{{Id: "pod0", Name: "existing"}}
}

func (d *fakeDomain) ListContainers(context.Context) []*api.Container {
	return []*api.Container{{Id: "ctr0", PodSandboxId: "pod0", Name: "old", State: api.ContainerState_CONTAINER_RUNNING}}
}

func (d *fakeDomain) UpdateContainer(_ context.Context, id string, r *api.LinuxResources) error {
	if id != "ctr0" {
		return errors.New("no such container")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.updated[id] = r
	return nil
}

func (d *fakeDomain) update(id string) *api.LinuxResources {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.updated[id]
}

// testPlugin injects an env var, refuses containers named "reject", hangs
// in CreateContainer when hang is set, and records what it was told.
type testPlugin struct {
	hang   bool
	mu     sync.Mutex
	synced []string
	events []string
}

func (p *testPlugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	p.record("Synchronize " + pods[0].GetName() + " " + ctrs[0].GetName())
	return nil, nil
}

func (p *testPlugin) CreateContainer(ctx context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.record("CreateContainer " + c.GetName())
	if p.hang {
		<-ctx.Done()
		time.Sleep(time.Second) // answers late, as a stuck plugin does
		return nil, nil, nil
	}
	if c.GetName() == "reject" {
		return nil, nil, errors.New("containers named reject are refused")
	}
	adj := &api.ContainerAdjustment{}
	adj.AddEnv("NRI_INJECTED", "hello")
	return adj, nil, nil
}

func (p *testPlugin) StopContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) ([]*api.ContainerUpdate, error) {
	p.record("StopContainer " + c.GetName())
	return nil, nil
}

func (p *testPlugin) RemoveContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	p.record("RemoveContainer " + c.GetName())
	return nil
}

func (p *testPlugin) record(e string) {
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
}

func (p *testPlugin) seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.events, "; ")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a log destination the test reads while NRI writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNRI runs NRI on a socket in a temporary directory.
func startNRI(t *testing.T, timeout time.Duration) (*NRI, *fakeDomain, string, *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default().NRI
	cfg.Enable = true
	cfg.SocketPath = filepath.Join(dir, "nri.sock")
	cfg.PluginPath = filepath.Join(dir, "plugins")
	cfg.PluginConfigPath = filepath.Join(dir, "conf.d")
	cfg.PluginRequestTimeout = config.Duration(timeout)
	logs := &syncBuffer{}
	n, err := New(Options{Config: cfg, Version: "test", Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDomain{updated: map[string]*api.LinuxResources{}}
	if err := n.Start(d); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return n, d, cfg.SocketPath, logs
}

// connect starts an in-process plugin and waits until it is synchronized.
func connect(t *testing.T, socket, idx, name string, p *testPlugin, onClose func()) stub.Stub {
	t.Helper()
	s, err := stub.New(p, stub.WithSocketPath(socket), stub.WithPluginIdx(idx), stub.WithPluginName(name), stub.WithOnClose(onClose))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	waitFor(t, name+" synchronized", func() bool { return strings.Contains(p.seen(), "Synchronize") })
	return s
}

func TestPluginLifecycle(t *testing.T) {
	n, d, socket, _ := startNRI(t, 2*time.Second)
	p := &testPlugin{}
	closed := make(chan struct{})
	s := connect(t, socket, "10", "inject", p, func() { close(closed) })
	if !strings.Contains(p.seen(), "Synchronize existing old") {
		t.Errorf("plugin was synchronized with %q, want the existing pod and container", p.seen())
	}

	ctx := context.Background()
	pod := &api.PodSandbox{Id: "pod1", Name: "p"}
	if err := n.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	adj, err := n.CreateContainer(ctx, pod, &api.Container{Id: "c1", PodSandboxId: "pod1", Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if env := adj.GetEnv(); len(env) != 1 || env[0].GetKey() != "NRI_INJECTED" || env[0].GetValue() != "hello" {
		t.Errorf("adjustment env = %v, want NRI_INJECTED=hello", env)
	}
	// A plugin's error names the plugin; the plugins that were asked are
	// told the container is gone.
	_, err = n.CreateContainer(ctx, pod, &api.Container{Id: "c2", PodSandboxId: "pod1", Name: "reject"})
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), `"10-inject"`) || !strings.Contains(err.Error(), "containers named reject are refused") {
		t.Fatalf("rejected creation: err = %v, want FailedPrecondition naming plugin 10-inject and its message", err)
	}
	n.UndoCreateContainer(ctx, pod, &api.Container{Id: "c2", PodSandboxId: "pod1", Name: "reject"})

	// Stop and removal go out once each, stop first.
	ctr := &api.Container{Id: "c1", PodSandboxId: "pod1", Name: "c"}
	n.StopContainer(ctx, pod, ctr)
	n.ContainerExited("c1", func(context.Context) (*api.PodSandbox, *api.Container) { return pod, ctr })
	n.RemoveContainer(ctx, pod, ctr)
	n.RemoveContainer(ctx, pod, ctr)
	want := "CreateContainer c; CreateContainer reject; StopContainer reject; RemoveContainer reject; StopContainer c; RemoveContainer c"
	if got := strings.TrimPrefix(p.seen(), "Synchronize existing old; "); got != want {
		t.Errorf("plugin saw %q, want %q", got, want)
	}

	// A plugin's own update request reaches the domain.
	failed, err := s.UpdateContainers([]*api.ContainerUpdate{
		{ContainerId: "ctr0", Linux: &api.LinuxContainerUpdate{Resources: &api.LinuxResources{Cpu: &api.LinuxCPU{Shares: api.UInt64(512)}}}},
		{ContainerId: "gone", Linux: &api.LinuxContainerUpdate{Resources: &api.LinuxResources{Cpu: &api.LinuxCPU{Shares: api.UInt64(2)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := d.update("ctr0"); r.GetCpu().GetShares().GetValue() != 512 {
		t.Errorf("domain update of ctr0 = %v, want cpu shares 512", r)
	}
	if len(failed) != 1 || failed[0].GetContainerId() != "gone" {
		t.Errorf("failed updates = %v, want the one of container gone", failed)
	}

	// Stopping NRI closes the plugin's connection and removes the socket.
	n.Stop()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("plugin connection still open after Stop")
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("socket after Stop: %v, want it gone", err)
	}
}

func TestHungPluginCostsOneTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	n, _, socket, logs := startNRI(t, timeout)
	p := &testPlugin{hang: true}
	connect(t, socket, "20", "hang", p, func() {})
	ctx := context.Background()
	pod := &api.PodSandbox{Id: "pod1", Name: "p"}
	start := time.Now()
	adj, err := n.CreateContainer(ctx, pod, &api.Container{Id: "c1", PodSandboxId: "pod1", Name: "c"})
	took := time.Since(start)
	if err != nil || len(adj.GetEnv()) != 0 {
		t.Fatalf("CreateContainer with a hung plugin = %v, %v; want it to go on without the plugin", adj, err)
	}
	if took < timeout || took > timeout+time.Second {
		t.Errorf("CreateContainer took %s with a plugin that hangs, want the request timeout (%s)", took, timeout)
	}
	if !strings.Contains(logs.String(), "20-hang") {
		t.Errorf("log does not name the hung plugin:\n%s", logs)
	}
	// The plugin is dropped: the next creation does not wait.
	start = time.Now()
	if _, err := n.CreateContainer(ctx, pod, &api.Container{Id: "c2", PodSandboxId: "pod1", Name: "c2"}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > timeout/2 {
		t.Errorf("second CreateContainer took %s: the hung plugin was not dropped", took)
	}
}
