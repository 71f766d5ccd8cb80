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
	"github.com/cricket-cri/cricket/spec"
)

// startShim starts the shim that a pinned sandbox's containers will share,
// the way containerd starts one for a task (the runtime v2 "start"
// command), and returns its address. A pause container's creation spawns
// the pod's shim; without one, the first StartContainer would pay for the
// spawn. The shim groups tasks by the annotation the pod's containers
// carry (spec.AnnotationShimGroup): when containerd creates the first
// container's task, the shim's own start command finds this one listening
// and containerd uses it. Had containerd spawned one first, this start
// returns that one's address instead; either way the pod has one shim.
//
// The start command runs in Dir/shim, which holds the minimal bundle the
// command reads the group from and the file the shim logs to. A sandbox
// without a known containerd address or with a runtime whose start
// protocol cricketd does not know (see aheadShims) gets no shim ahead
// (containerd spawns one with its first container).
func (m *Manager) startShim(ctx context.Context, sb *Sandbox) (string, error) {
	rt, err := m.ResolveRuntime(sb.RuntimeHandler)
	if err != nil {
		return "", err
	}
	name, ok := aheadShims[rt.Type]
	if !ok || m.opts.ContainerdAddress == "" {
		return "", nil
	}
	bin, err := m.shimBinary(name)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(sb.Dir, "shim")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	bundle, err := json.Marshal(specs.Spec{Version: specs.Version, Annotations: map[string]string{spec.AnnotationShimGroup: sb.ID}})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), bundle, 0o600); err != nil {
		return "", err
	}
	// A regular file, not containerd's FIFO: nobody needs to read it for
	// the shim to keep writing, across restarts of cricketd.
	if err := os.WriteFile(filepath.Join(dir, "log"), nil, 0o600); err != nil {
		return "", err
	}
	addr := m.opts.ContainerdAddress
	cmd := exec.CommandContext(ctx, bin, "-namespace", m.opts.Namespace, "-address", addr, "-id", sb.ID, "start")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TTRPC_ADDRESS="+addr+".ttrpc", "GRPC_ADDRESS="+addr, "NAMESPACE="+m.opts.Namespace)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("start shim for sandbox %s: %w: %s", sb.ID, err, strings.TrimSpace(stderr.String()))
	}
	addr = strings.TrimSpace(stdout.String())
	// The start command returns once the shim's socket listens; the shim
	// itself is still starting. Waiting for its first answer keeps that
	// start-up off the pod's first container operations (and proves the
	// shim runs).
	c, shim, err := shimclient.Dial(addr, time.Second)
	if err != nil {
		return "", fmt.Errorf("shim for sandbox %s at %s: %w", sb.ID, addr, err)
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := shim.Connect(cctx, &taskapi.ConnectRequest{ID: sb.ID}); err != nil {
		return "", fmt.Errorf("shim for sandbox %s at %s does not answer: %w", sb.ID, addr, err)
	}
	return addr, nil
}

// aheadShims are the shims startShim can start ahead, by runtime type, and
// their binaries: both speak the start protocol of containerd 1.6 and 1.7
// (the runc shim's, which cricket's own follows) and put a pod's tasks in
// one shim by spec.AnnotationShimGroup.
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
	sb.mu.Lock()
	addr := sb.shimAddress
	sb.mu.Unlock()
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
