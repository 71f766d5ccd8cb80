package spec

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	nriapi "github.com/containerd/nri/pkg/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func nriBaseSpec() *specs.Spec {
	return &specs.Spec{
		Process:     &specs.Process{Args: []string{"sh"}, Env: []string{"PATH=/bin", "KEEP=1", "DROP=1"}},
		Annotations: map[string]string{"a": "1"},
		Mounts:      []specs.Mount{{Destination: "/data", Source: "/old", Type: "bind"}},
		Linux:       &specs.Linux{Resources: &specs.LinuxResources{}},
	}
}

func TestAdjustForNRI(t *testing.T) {
	s := nriBaseSpec()
	adj := &nriapi.ContainerAdjustment{}
	adj.AddEnv("PATH", "/usr/bin")
	adj.AddEnv("NRI_INJECTED", "hello")
	adj.RemoveEnv("DROP")
	adj.AddAnnotation("injected", "yes")
	adj.RemoveAnnotation("a")
	adj.AddMount(&nriapi.Mount{Destination: "/data", Source: "/new", Type: "bind", Options: []string{"rbind", "ro"}})
	adj.AddRlimit("RLIMIT_NOFILE", 1024, 512)
	adj.SetLinuxMemoryLimit(64 << 20)
	adj.AddLinuxHugepageLimit("3MB", 1) // no host has 3 MB pages
	oomAdj := -500
	adj.SetLinuxOomScoreAdj(&oomAdj)
	adj.AddHooks(&nriapi.Hooks{Poststart: []*nriapi.Hook{{Path: "/bin/true"}}})
	oom := &OOMScore{floor: -100, log: slog.Default()}
	if err := AdjustForNRI(s, adj, oom); err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=/usr/bin", "KEEP=1", "NRI_INJECTED=hello"}; !slices.Equal(s.Process.Env, want) {
		t.Errorf("env = %q, want %q", s.Process.Env, want)
	}
	if s.Annotations["injected"] != "yes" || s.Annotations["a"] != "" {
		t.Errorf("annotations = %v", s.Annotations)
	}
	if len(s.Mounts) != 1 || s.Mounts[0].Source != "/new" {
		t.Errorf("mounts = %+v, want /data from /new only", s.Mounts)
	}
	if len(s.Process.Rlimits) != 1 || s.Process.Rlimits[0].Hard != 1024 {
		t.Errorf("rlimits = %+v", s.Process.Rlimits)
	}
	if m := s.Linux.Resources.Memory; m == nil || m.Limit == nil || *m.Limit != 64<<20 {
		t.Errorf("memory = %+v", m)
	}
	if len(s.Linux.Resources.HugepageLimits) != 0 {
		t.Errorf("hugepage limit of a page size the host lacks kept: %+v", s.Linux.Resources.HugepageLimits)
	}
	// Without CAP_SYS_RESOURCE cricketd cannot grant less than its own.
	if v := s.Process.OOMScoreAdj; v == nil || *v != -100 {
		t.Errorf("oom_score_adj = %v, want clamped to -100", v)
	}
	if s.Hooks == nil || len(s.Hooks.Poststart) != 1 {
		t.Errorf("hooks = %+v", s.Hooks)
	}
}

func TestAdjustForNRIRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		adj  func(*nriapi.ContainerAdjustment)
		want string
	}{
		"CDI device":    {func(a *nriapi.ContainerAdjustment) { a.AddCDIDevice(&nriapi.CDIDevice{Name: "vendor.com/gpu=0"}) }, "vendor.com/gpu=0"},
		"blockio class": {func(a *nriapi.ContainerAdjustment) { a.SetLinuxBlockIOClass("slow") }, "slow"},
		"namespace":     {func(a *nriapi.ContainerAdjustment) { a.AddOrReplaceNamespace(&nriapi.LinuxNamespace{Type: "bogus"}) }, "bogus"},
	} {
		t.Run(name, func(t *testing.T) {
			adj := &nriapi.ContainerAdjustment{}
			tc.adj(adj)
			err := AdjustForNRI(nriBaseSpec(), adj, &OOMScore{canLower: true})
			if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want InvalidArgument naming %q", err, tc.want)
			}
		})
	}
}
