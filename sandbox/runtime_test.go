package sandbox

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/checkpoint"
)

func TestResolvedRuntimeOutlivesItsHandler(t *testing.T) {
	cfg := config.Default()
	cfg.Runtimes["kata"] = config.Runtime{Type: "io.containerd.kata.v2", BinaryName: "kata-runtime", Root: "/run/kata"}
	live := config.NewLive(cfg)
	m := &Manager{opts: Options{Config: live, SystemdCgroup: true}}
	rt, err := m.ResolveRuntime("kata")
	if err != nil {
		t.Fatal(err)
	}
	sb := &Sandbox{Metadata: Metadata{ID: "p1", Config: &runtime.PodSandboxConfig{}, RuntimeHandler: "kata", Runtime: rt}}

	// A reload removes the handler: new pods are refused it...
	next := *cfg
	next.Runtimes = map[string]config.Runtime{"runc": {Type: config.RuncRuntimeType}}
	next.DefaultRuntime = "runc"
	live.Swap(&next)
	if _, err := m.ResolveRuntime("kata"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("removed handler resolves: %v", err)
	}
	// ...the pod keeps its runtime, across a checkpoint too.
	sb.file.Path = filepath.Join(t.TempDir(), "p1.json")
	if err := sb.update(checkpoint.Requested, nil); err != nil {
		t.Fatal(err)
	}
	var back record
	if err := checkpoint.Read(sb.file.Path, &back); err != nil {
		t.Fatal(err)
	}
	restored, err := back.sandbox(sb.file.Path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := PodRuntime(restored)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "io.containerd.kata.v2" || got.Options.GetBinaryName() != "kata-runtime" ||
		got.Options.GetRoot() != "/run/kata" || !got.Options.GetSystemdCgroup() || got.Handler != "kata" {
		t.Errorf("restored runtime = %+v %v", got, got.Options)
	}
}

func TestPodRuntimeOfAnOldCheckpointWithoutOne(t *testing.T) {
	var rec record
	if err := json.Unmarshal([]byte(`{"ID":"p2","RuntimeHandler":"gone"}`), &rec); err != nil {
		t.Fatal(err)
	}
	sb, err := rec.sandbox("p2.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PodRuntime(sb); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("PodRuntime = %v, want FailedPrecondition naming the handler", err)
	}
}

func TestHandlersFromOneConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Runtimes["kata"] = config.Runtime{Type: "io.containerd.kata.v2", BinaryName: "/nonexistent/kata"}
	m := &Manager{opts: Options{Config: config.NewLive(cfg)}}
	var names []string
	for _, h := range m.Handlers() {
		names = append(names, h.Name)
	}
	if want := []string{"", "cricket", "kata", "runc"}; !slices.Equal(names, want) {
		t.Fatalf("handlers %q, want %q", names, want)
	}
}
