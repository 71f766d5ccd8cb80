package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/shimclient"
	"github.com/cricket-cri/cricket/internal/shimproc"
	"github.com/cricket-cri/cricket/spec"
)

// startShim starts the shim that a pinned sandbox's containers will share
// and returns its address once the shim answers. A pause container's
// creation spawns the pod's shim; without one, the first StartContainer
// would pay for the spawn. The shim groups tasks by the annotation the
// pod's containers carry (spec.AnnotationShimGroup): when containerd
// creates the first container's task, the shim's own start command finds
// this one listening and containerd uses it. Had containerd spawned one
// first, this start returns that one's address instead; either way the
// pod has one shim.
//
// cricket's own shim is spawned directly (shimproc.Spawn); containerd's
// runc shim through its start command (the runtime v2 "start"), which
// runs in Dir/shim with a minimal bundle the command reads the group
// from. A sandbox without a known containerd address or with a runtime
// whose start protocol cricketd does not know (see aheadShims) gets no
// shim ahead (containerd spawns one with its first container).
func (m *Manager) startShim(ctx context.Context, sb *Sandbox) (string, error) {
	rt := sb.Runtime
	name, ok := aheadShims[rt.Type]
	if !ok || m.opts.ContainerdAddress == "" {
		return "", nil
	}
	bin, err := m.shimBinary(name)
	if err != nil {
		return "", err
	}
	var shimAddr string
	if rt.Type == config.CricketRuntimeType {
		shimAddr, err = m.spawnShim(sb, bin)
	} else {
		dir, env, derr := m.shimDir(sb)
		if derr != nil {
			return "", derr
		}
		shimAddr, err = runStartCommand(ctx, sb.ID, bin, dir, env, m.opts.ContainerdAddress, m.opts.Namespace)
	}
	if err != nil {
		return "", err
	}
	if err := connectShim(ctx, sb.ID, shimAddr); err != nil {
		return "", err
	}
	return shimAddr, nil
}

// shimDir is the directory a pod's shim started by cricketd runs in, with
// the file the shim logs to (containerd gives the shims it starts a FIFO
// there), and the environment containerd gives its shims.
func (m *Manager) shimDir(sb *Sandbox) (string, []string, error) {
	dir := filepath.Join(sb.Dir, "shim")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "log"), nil, 0o600); err != nil {
		return "", nil, err
	}
	addr := m.opts.ContainerdAddress
	return dir, append(os.Environ(), "TTRPC_ADDRESS="+addr+".ttrpc", "GRPC_ADDRESS="+addr, "NAMESPACE="+m.opts.Namespace), nil
}

// spawnShim spawns cricket's shim for a pod (see shimproc.Spawn); its
// socket accepts connections when this returns, while the shim is still
// starting.
func (m *Manager) spawnShim(sb *Sandbox, bin string) (string, error) {
	dir, env, err := m.shimDir(sb)
	if err != nil {
		return "", err
	}
	return shimproc.Spawn(bin, dir, env, m.opts.ContainerdAddress, m.opts.Namespace, sb.ID)
}

// spawnPauseShim spawns cricket's shim ahead of a pause container, so that
// the shim starts up while containerd creates the container's record and
// its task's bundle; containerd's start command for the pause task (and
// every later task of the pod) finds it listening. Only for cricket's own
// shim; false when none was spawned (containerd spawns one, as for any
// runtime).
func (m *Manager) spawnPauseShim(sb *Sandbox, rt Runtime) bool {
	if rt.Type != config.CricketRuntimeType || m.opts.ContainerdAddress == "" {
		return false
	}
	bin, err := m.shimBinary(aheadShims[rt.Type])
	if err == nil {
		_, err = m.spawnShim(sb, bin)
	}
	if err != nil {
		m.opts.Log.Warn("could not start the pod's shim ahead of its pause container; containerd starts one", "sandbox", sb.ID, "error", err)
		return false
	}
	return true
}

// runStartCommand runs a shim's start command in dir and returns the
// address it printed.
func runStartCommand(ctx context.Context, id, bin, dir string, env []string, addr, namespace string) (string, error) {
	bundle, err := json.Marshal(specs.Spec{Version: specs.Version, Annotations: map[string]string{spec.AnnotationShimGroup: id}})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), bundle, 0o600); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, "-namespace", namespace, "-address", addr, "-id", id, "start")
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("start shim for sandbox %s: %w: %s", id, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// connectShim waits until the shim at addr answers.
func connectShim(ctx context.Context, id, addr string) error {
	c, shim, err := shimclient.Dial(addr, time.Second)
	if err != nil {
		return fmt.Errorf("shim for sandbox %s at %s: %w", id, addr, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := shim.Connect(ctx, &taskapi.ConnectRequest{ID: id}); err != nil {
		return fmt.Errorf("shim for sandbox %s at %s does not answer: %w", id, addr, err)
	}
	return nil
}

var aheadShims = map[string]string{
	config.RuncRuntimeType:    "containerd-shim-runc-v2",
	config.CricketRuntimeType: "containerd-shim-cricket-v1",
}

// shimBinary finds a shim's binary where containerd finds it: in
// Options.ShimDirs (what a managed containerd has first in its PATH), then
// in PATH.
func (m *Manager) shimBinary(name string) (string, error) {
	for _, dir := range m.opts.ShimDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// shutdownShim asks the shim started ahead of a pinned sandbox's containers
// to exit; the shim does only when it hosts no task. With wait, it waits
// (bounded) until the shim is gone, for callers that must leave nothing
// behind, and reports whether it saw it go; a shim still hosting a task
// after that is logged.
func (m *Manager) shutdownShim(ctx context.Context, sb *Sandbox, wait bool) (gone bool) {
	addr := sb.ShimAddress
	if addr == "" {
		return false
	}
	c, shim, err := shimclient.Dial(addr, time.Second)
	if err != nil {
		return true // it hosted the pod's containers and exited with the last
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var pid int
	if wait {
		if r, err := shim.Connect(ctx, &taskapi.ConnectRequest{ID: sb.ID}); err == nil {
			pid = int(r.ShimPid)
		}
	}
	if _, err := shim.Shutdown(ctx, &taskapi.ShutdownRequest{ID: sb.ID}); err != nil && ctx.Err() == nil {
		// The shim's connection closes as it exits: an error is normal.
		m.opts.Log.Debug("shut down sandbox shim", "sandbox", sb.ID, "error", err)
	}
	if pid == 0 {
		return false
	}
	if !waitGone(pid, 5*time.Second) {
		m.opts.Log.Warn("sandbox shim still runs after shutdown (it hosts a task)", "sandbox", sb.ID, "pid", pid)
		return false
	}
	return true
}
