package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/crilog"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// repoRoot is the repository's top directory (the walkthrough's paths are
// relative to it).
const repoRoot = "../.."

// TestREADMEWalkthrough runs README's "A first pod" lines, as a new user
// pastes them after `make run`, against a cricketd with contrib/run.toml's
// modes (pinned sandboxes, the built-in bridge, a managed containerd): with
// crictl when the machine has it, otherwise each crictl line as the CRI
// calls crictl makes. docker.io is mirrored to the test's registry.
func TestREADMEWalkthrough(t *testing.T) {
	t.Parallel()
	lines := walkthroughLines(t)
	run, err := config.Load(filepath.Join(repoRoot, "contrib", "run.toml"), true)
	if err != nil {
		t.Fatalf("contrib/run.toml: %v", err)
	}
	if run.SandboxMode != config.SandboxModePinned || run.Network.Mode != config.NetworkModeBridge || !run.Containerd.Managed {
		t.Fatalf("contrib/run.toml: sandbox_mode %q, network.mode %q, managed %v; README promises pinned, bridge, managed",
			run.SandboxMode, run.Network.Mode, run.Containerd.Managed)
	}
	reg := testrig.StartRegistry(t)
	reg.Push(t, "library/busybox:1.36", testrig.BuildImage(t, testrig.ImageSpec{}))
	nw := testrig.NewPodNetwork() // the bridge, with a name and subnet of the test's own
	nw.Builtin = true
	// As bin/ after `make build`: cricketd and the shim side by side (the
	// managed containerd finds the shim there).
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	placeFile(t, self, filepath.Join(bin, "cricketd"))
	placeFile(t, testrig.ShimBinary(t), filepath.Join(bin, "containerd-shim-cricket-v1"))
	d := testrig.StartDaemon(t, testrig.DaemonOptions{
		Executable: filepath.Join(bin, "cricketd"),
		Registry:   reg,
		Managed:    run.Containerd.Managed,
		Network:    nw,
		Hosts:      map[string]string{"docker.io": mirrorHosts(reg)},
		Configure: func(c *config.Config) {
			c.SandboxMode = run.SandboxMode
			c.DefaultRuntime = run.DefaultRuntime
		},
	})
	t.Cleanup(func() { os.RemoveAll("/tmp/cricket-walkthrough") })

	var sh walkthroughShell
	if p, err := exec.LookPath("crictl"); err == nil {
		t.Logf("running the walkthrough with %s", p)
		sh = &crictlShell{bin: p, endpoint: d.Config.Listen}
	} else {
		t.Log("no crictl in PATH: running the walkthrough's crictl lines as CRI calls")
		sh = &criShell{t: t, d: d}
	}
	vars := map[string]string{}
	outputs := map[string]string{}
	for _, line := range lines {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			vars[k] = v // the endpoint: the test daemon's replaces it
			continue
		}
		target, cmd := "", line
		if m := assignment.FindStringSubmatch(line); m != nil {
			target, cmd = m[1], m[2]
		}
		args := strings.Fields(os.Expand(cmd, func(k string) string { return vars[k] }))
		if len(args) < 2 || args[0] != "crictl" {
			t.Fatalf("walkthrough line %q: the test runs crictl lines only", line)
		}
		out, err := sh.run(args[1:])
		if err != nil {
			t.Fatalf("walkthrough line %q: %v\n%s", line, err, out)
		}
		if target != "" {
			vars[target] = strings.TrimSpace(out)
		}
		outputs[args[1]] = out
	}
	// What README says the user sees.
	if got := strings.TrimSpace(outputs["exec"]); got != "hello" {
		t.Errorf("crictl exec printed %q, want the pod's hostname %q", got, "hello")
	}
	if !strings.Contains(outputs["logs"], "hello from cricket") {
		t.Errorf("crictl logs printed %q, want the container's greeting", outputs["logs"])
	}
	if pods := listPods(t, d, nil); len(pods) != 0 {
		t.Errorf("pods left after the walkthrough: %v", pods)
	}
}

var assignment = regexp.MustCompile(`^([A-Z_]+)=\$\((.*)\)$`)

// walkthroughLines returns the command lines of README's walkthrough block.
func walkthroughLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- walkthrough:")
	if !ok {
		t.Fatal("README has no walkthrough block")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README's walkthrough block does not end")
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

type walkthroughShell interface {
	run(args []string) (string, error)
}

// crictlShell runs crictl against the test daemon.
type crictlShell struct{ bin, endpoint string }

func (c *crictlShell) run(args []string) (string, error) {
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CONTAINER_RUNTIME_ENDPOINT="+c.endpoint, "IMAGE_SERVICE_ENDPOINT="+c.endpoint)
	// Like the shell's $(...): what a line assigns is crictl's stdout
	// (crictl warns on stderr).
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// criShell makes the CRI calls crictl makes for the walkthrough's
// commands, and prints what crictl prints.
type criShell struct {
	t *testing.T
	d *testrig.Daemon
}

func (c *criShell) run(args []string) (string, error) {
	d := c.d
	ctx := d.Ctx()
	switch cmd, a := args[0], args[1:]; {
	case cmd == "pull" && len(a) == 1:
		r, err := d.Images.PullImage(ctx, &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: a[0]}})
		if err != nil {
			return "", err
		}
		return "Image is up to date for " + r.ImageRef + "\n", nil
	case cmd == "runp" && len(a) == 1:
		var pod runtime.PodSandboxConfig
		if err := readJSON(a[0], &pod); err != nil {
			return "", err
		}
		r, err := d.Runtime.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{Config: &pod})
		if err != nil {
			return "", err
		}
		return r.PodSandboxId + "\n", nil
	case cmd == "create" && len(a) == 3:
		var ctr runtime.ContainerConfig
		var pod runtime.PodSandboxConfig
		if err := readJSON(a[1], &ctr); err != nil {
			return "", err
		}
		if err := readJSON(a[2], &pod); err != nil {
			return "", err
		}
		r, err := d.Runtime.CreateContainer(ctx, &runtime.CreateContainerRequest{PodSandboxId: a[0], Config: &ctr, SandboxConfig: &pod})
		if err != nil {
			return "", err
		}
		return r.ContainerId + "\n", nil
	case cmd == "start" && len(a) == 1:
		_, err := d.Runtime.StartContainer(ctx, &runtime.StartContainerRequest{ContainerId: a[0]})
		return a[0] + "\n", err
	case cmd == "exec" && len(a) >= 2:
		r, err := d.Runtime.ExecSync(ctx, &runtime.ExecSyncRequest{ContainerId: a[0], Cmd: a[1:], Timeout: 30})
		if err != nil {
			return "", err
		}
		if r.ExitCode != 0 {
			return string(r.Stdout) + string(r.Stderr), fmt.Errorf("exit code %d", r.ExitCode)
		}
		return string(r.Stdout) + string(r.Stderr), nil
	case cmd == "logs" && len(a) == 1:
		return c.logs(a[0])
	case cmd == "stop" && len(a) == 1:
		_, err := d.Runtime.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: a[0]})
		return a[0] + "\n", err
	case cmd == "rm" && len(a) == 1:
		_, err := d.Runtime.RemoveContainer(ctx, &runtime.RemoveContainerRequest{ContainerId: a[0]})
		return a[0] + "\n", err
	case cmd == "stopp" && len(a) == 1:
		_, err := d.Runtime.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: a[0]})
		return "Stopped sandbox " + a[0] + "\n", err
	case cmd == "rmp" && len(a) == 1:
		_, err := d.Runtime.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: a[0]})
		return "Removed sandbox " + a[0] + "\n", err
	}
	return "", fmt.Errorf("crictl %s: not a command the test knows how crictl carries out; add it to criShell", strings.Join(args, " "))
}

// logs prints a container's log as crictl does: the messages, once the
// container has written its first line (crictl would print an empty log
// before that; the walkthrough's reader waits).
func (c *criShell) logs(id string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.d.Runtime.ContainerStatus(c.d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			return "", err
		}
		b, err := os.ReadFile(st.GetStatus().GetLogPath())
		if err != nil && !os.IsNotExist(err) {
			return "", err
		}
		recs, err := crilog.ParseRecords(b)
		if err != nil && time.Now().After(deadline) {
			return "", err
		}
		if (err == nil && len(recs) > 0) || time.Now().After(deadline) {
			var out strings.Builder
			for _, r := range recs {
				out.WriteString(r.Content)
				if !r.Partial {
					out.WriteString("\n")
				}
			}
			return out.String(), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readJSON(rel string, v any) error {
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
