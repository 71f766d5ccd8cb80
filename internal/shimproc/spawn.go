package shimproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Spawn starts the serving shim of a group of tasks (a pod) the way a
// shim's start command does — the socket is created here, at the path
// every start command of the group looks at, and handed to the serving
// process as fd 3 — but without the start command's own process: on a
// pod's start path that is an exec and a Go start-up fewer. Only cricket's
// shim is spawned so (it serves whatever listener it inherits); other
// shims get their start command.
//
// The socket accepts connections as soon as Spawn returns, while the shim
// is still starting: a caller that needs it serving sends a request and
// waits for the answer. The shim is the caller's child; Spawn reaps it
// when it exits.
func Spawn(bin, dir string, env []string, containerdAddress, namespace, group string) (address string, err error) {
	path := SocketPath(containerdAddress, namespace, group)
	RemoveDeadSocket(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	l, err := net.Listen("unix", path)
	if errors.Is(err, syscall.EADDRINUSE) {
		// The group's shim serves already (containerd spawned it for a
		// task of the group): it is the one to use.
		return "unix://" + path, nil
	}
	if err != nil {
		return "", fmt.Errorf("shim socket %s: %w", path, err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	sf, err := ul.File()
	ul.Close()
	if err == nil {
		err = os.Chmod(path, 0o600)
	}
	if err != nil {
		if sf != nil {
			sf.Close()
		}
		os.Remove(path)
		return "", fmt.Errorf("shim socket %s: %w", path, err)
	}
	defer sf.Close()
	// -pod-shim: the shim stays until a Shutdown for the group itself
	// (the pod's removal), not only while it hosts a task.
	cmd := exec.Command(bin, "-namespace", namespace, "-id", group, "-address", containerdAddress, "-pod-shim")
	cmd.Dir = dir
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{sf}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("start shim %s: %w", bin, err)
	}
	go cmd.Wait()
	// Like containerd's shims: one point of OOM score above whoever
	// started it, so that the kernel kills the shim before its parent.
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		if score, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", cmd.Process.Pid), []byte(strconv.Itoa(min(score+1, 1000))), 0o644)
		}
	}
	return "unix://" + path, nil
}
