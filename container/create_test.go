package container

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
	"github.com/cricket-cri/cricket/sandbox"
)

var errInjected = errors.New("injected failure")

// createSteps are the failpoints a creation passes, in order.
var createSteps = []string{"budget", "checkpoint", "mounts", "prepare", "lease", "container"}

// A creation that fails at any step, or whose containerd calls fail,
// leaves nothing behind: the snapshot and containerd container are
// removed whether or not the container was made, the checkpoint and
// directory are removed, the list budget and the name are free again.
func TestCreateFailureAtEachStepLeavesNothing(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var reached []string
	h.m.failAt = func(step string) error { reached = append(reached, step); return nil }
	c := h.create(t, "app")
	if !slices.Equal(reached, createSteps) {
		t.Fatalf("steps %q, want %q", reached, createSteps)
	}
	if st := c.Status(); st.State != StateCreated || st.Creating {
		t.Fatalf("created container: %+v", st)
	}
	// Its snapshot is a garbage collection root of its own: no lease.
	if n := h.ctrd.count("lease"); n != 0 {
		t.Errorf("a container without image mounts took %d leases, want none", n)
	}
	if err := h.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := h.published(); !slices.Equal(got, []events.Kind{events.Deleted}) {
		t.Errorf("events %v, want Deleted", got)
	}
	if left := h.left("app"); len(left) > 0 {
		t.Errorf("left behind by the removal: %q", left)
	}

	cases := []struct {
		name string
		set  func(*harness)
		cfg  func(*runtime.ContainerConfig)
		want func(error) bool
	}{
		{name: "image missing", cfg: func(c *runtime.ContainerConfig) { c.Image.Image = "nginx" }, want: errdefs.IsNotFound},
		{name: "recursive read-only mount unsupported", cfg: func(c *runtime.ContainerConfig) {
			c.Mounts = []*runtime.Mount{{ContainerPath: "/data", HostPath: "/tmp", Readonly: true, RecursiveReadOnly: true}}
		}, want: errdefs.IsInvalidArgument},
		// Only a container with image mounts (or in a user namespace)
		// takes a lease.
		{name: "lease", set: func(h *harness) { h.ctrd.fail["lease"] = errInjected }, cfg: func(c *runtime.ContainerConfig) {
			c.Mounts = []*runtime.Mount{{ContainerPath: "/data", Image: &runtime.ImageSpec{Image: "busybox"}}}
		}},
		{name: "container before its snapshot", set: func(h *harness) { h.ctrd.fail["newContainer"] = errInjected }},
		{name: "container after its snapshot", set: func(h *harness) {
			h.ctrd.fail["newContainer"], h.ctrd.snapshotThenFail = errInjected, true
		}},
	}
	for _, step := range createSteps {
		cases = append(cases, struct {
			name string
			set  func(*harness)
			cfg  func(*runtime.ContainerConfig)
			want func(error) bool
		}{name: "after " + step, set: func(h *harness) {
			h.m.failAt = func(s string) error {
				if s == step {
					return errInjected
				}
				return nil
			}
		}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.set != nil {
				tc.set(h)
			}
			cfg := ctrConfig("app")
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			want := tc.want
			if want == nil {
				want = func(err error) bool { return errors.Is(err, errInjected) }
			}
			if _, err := h.m.Create(ctx, "pod1", cfg); !want(err) {
				t.Fatalf("Create = %v", err)
			}
			if left := h.left("app"); len(left) > 0 {
				t.Errorf("left behind: %q", left)
			}
			// The name is free: the retry succeeds.
			h.m.failAt, h.ctrd.fail = nil, map[string]error{}
			if tc.cfg == nil {
				h.create(t, "app")
			}
		})
	}
}

// Containers are refused in a sandbox that is not ready or is stopping,
// before anything exists.
func TestCreateRefusedInAPodNotReady(t *testing.T) {
	h := newHarness(t)
	h.pods.sbs["pod2"] = sandbox.ForTest(sandbox.Metadata{ID: "pod2", Config: h.sb.Config}, sandbox.Status{State: sandbox.StateNotReady})
	if _, err := h.m.Create(context.Background(), "pod2", ctrConfig("app")); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Create in a pod not ready = %v, want FailedPrecondition", err)
	}
	if _, err := h.m.Create(context.Background(), "pod3", ctrConfig("app")); !errdefs.IsNotFound(err) {
		t.Fatalf("Create in a missing pod = %v, want NotFound", err)
	}
	if left := h.left("app"); len(left) > 0 || len(h.ctrd.calls) > 0 {
		t.Errorf("left behind: %q; containerd calls %q", left, h.ctrd.calls)
	}
}
