package sandbox

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/events"
)

var errInjected = errors.New("injected failure")

// podKind is a kind of pod whose creation takes its own path through
// create: steps are the failpoints it passes, in order.
type podKind struct {
	name   string
	pinned bool
	edit   func(*runtime.PodSandboxConfig)
	steps  []string
}

func podKinds() []podKind {
	kinds := []podKind{
		{name: "pause container", steps: []string{"budget", "image", "checkpoint", "files", "netns", "holder", "network", "hosts", "start", "nri"}},
		{name: "pinned", pinned: true, edit: func(c *runtime.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.Pid = runtime.NamespaceMode_CONTAINER
		}, steps: []string{"budget", "checkpoint", "files", "netns", "holder", "network", "hosts", "start", "nri"}},
		// A sysctl of the pod's eth0: the holder comes after the attach.
		{name: "network device sysctl", edit: func(c *runtime.PodSandboxConfig) {
			c.Linux.Sysctls = map[string]string{"net.ipv4.conf.eth0.forwarding": "1"}
		}, steps: []string{"budget", "image", "checkpoint", "files", "netns", "network", "holder", "hosts", "start", "nri"}},
		{name: "host network", edit: func(c *runtime.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.Network = runtime.NamespaceMode_NODE
		}, steps: []string{"budget", "image", "checkpoint", "files", "holder", "hosts", "start", "nri"}},
	}
	if os.Geteuid() == 0 {
		// A /dev/shm of its own: a tmpfs the undo must unmount.
		kinds = append(kinds, podKind{name: "private IPC", edit: func(c *runtime.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.Ipc = runtime.NamespaceMode_POD
		}, steps: []string{"budget", "image", "checkpoint", "files", "netns", "holder", "network", "hosts", "start", "nri"}})
		// Its own user namespace (which needs its own IPC namespace):
		// the holder creates the network namespace, which is pinned
		// from its process.
		kinds = append(kinds, podKind{name: "user namespace", edit: func(c *runtime.PodSandboxConfig) {
			ids := []*runtime.IDMapping{{ContainerId: 0, HostId: 100000, Length: 65536}}
			c.Linux.SecurityContext.NamespaceOptions.Ipc = runtime.NamespaceMode_POD
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD, Uids: ids, Gids: ids}
		}, steps: []string{"budget", "image", "checkpoint", "files", "holder", "netns", "network", "hosts", "start", "nri"}})
	}
	return kinds
}

func (k podKind) config() *runtime.PodSandboxConfig {
	c := podConfig("web")
	if k.edit != nil {
		k.edit(c)
	}
	return c
}

// A creation that fails at any step, or whose collaborator fails (half
// way, for those that can), leaves nothing behind: every side effect
// before the failure is undone, and the name is free again.
func TestRunFailureAtEachStepLeavesNothing(t *testing.T) {
	ctx := context.Background()
	for _, k := range podKinds() {
		t.Run(k.name, func(t *testing.T) {
			h := newHarness(t, k.pinned)
			var reached []string
			h.m.failAt = func(step string) error { reached = append(reached, step); return nil }
			id, err := h.m.Run(ctx, k.config(), "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(reached, k.steps) {
				t.Fatalf("steps %q, want %q", reached, k.steps)
			}
			sb, err := h.m.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			if st := sb.Status(); st.State != StateReady || st.Creating || sb.Pinned != k.pinned {
				t.Fatalf("created sandbox: %+v pinned %v", st, sb.Pinned)
			}
			if got, want := h.published(), []events.Kind{events.Created, events.Started}; !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
			// And its removal leaves nothing either.
			if err := h.m.Remove(ctx, id); err != nil {
				t.Fatal(err)
			}
			if got, want := h.published(), []events.Kind{events.Stopped, events.Deleted}; !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
			if left := h.left(nameKey(k.config().GetMetadata())); len(left) > 0 {
				t.Errorf("left behind by the removal: %q", left)
			}

			for _, step := range k.steps {
				t.Run("after "+step, func(t *testing.T) {
					h := newHarness(t, k.pinned)
					h.m.failAt = func(s string) error {
						if s == step {
							return errInjected
						}
						return nil
					}
					if _, err := h.m.Run(ctx, k.config(), ""); !errors.Is(err, errInjected) {
						t.Fatalf("Run = %v, want the injected failure", err)
					}
					if left := h.left(nameKey(k.config().GetMetadata())); len(left) > 0 {
						t.Errorf("left behind: %q", left)
					}
				})
			}

			hostNet := k.config().GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtime.NamespaceMode_NODE
			for _, f := range []struct {
				name string
				skip bool
				set  func(*harness)
			}{
				{"image", k.pinned, func(h *harness) { h.images.err = errInjected }},
				{"network namespace", hostNet, func(h *harness) { h.net.fail["NewNetNS"], h.net.fail["PinNetNS"] = errInjected, errInjected }},
				{"attach half way", hostNet, func(h *harness) { h.net.fail["Attach"] = errInjected }},
				{"holder creation half way", false, func(h *harness) { h.ctl.fail["Create"] = errInjected }},
				{"holder start", false, func(h *harness) { h.ctl.fail["Start"] = errInjected }},
			} {
				if f.skip {
					continue
				}
				t.Run("failed "+f.name, func(t *testing.T) {
					h := newHarness(t, k.pinned)
					f.set(h)
					if _, err := h.m.Run(ctx, k.config(), ""); !errors.Is(err, errInjected) {
						t.Fatalf("Run = %v, want the injected failure", err)
					}
					if left := h.left(nameKey(k.config().GetMetadata())); len(left) > 0 {
						t.Errorf("left behind: %q", left)
					}
				})
			}
		})
	}
}

// A pod network that is not ready refuses a pod before anything exists;
// a host-network pod does not need it.
func TestRunRefusedWhileNetworkNotReady(t *testing.T) {
	h := newHarness(t, false)
	h.net.fail["Ready"] = errInjected
	cfg := podConfig("web")
	if _, err := h.m.Run(context.Background(), cfg, ""); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("Run = %v, want FailedPrecondition", err)
	}
	if left := h.left(nameKey(cfg.GetMetadata())); len(left) > 0 || h.images.calls > 0 || len(h.ctl.calls) > 0 {
		t.Errorf("left behind: %q; image calls %d, controller calls %q", left, h.images.calls, h.ctl.calls)
	}
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtime.NamespaceMode_NODE
	if _, err := h.m.Run(context.Background(), cfg, ""); err != nil {
		t.Fatalf("host-network pod: %v", err)
	}
}

// A failed creation frees the pod's name: kubelet's retry succeeds and
// gets a new sandbox.
func TestRunRetryAfterFailure(t *testing.T) {
	h := newHarness(t, false)
	h.ctl.fail["Start"] = errInjected
	cfg := podConfig("web")
	if _, err := h.m.Run(context.Background(), cfg, ""); !errors.Is(err, errInjected) {
		t.Fatal(err)
	}
	delete(h.ctl.fail, "Start")
	id, err := h.m.Run(context.Background(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.m.List(); len(got) != 1 || got[0].ID != id {
		t.Fatalf("listed %v, want only %s", got, id)
	}
}
