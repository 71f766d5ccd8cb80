package faststart_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
)

// shimBinary builds cricket's shim, which links this package.
func shimBinary(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "containerd-shim-cricket-v1")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/containerd-shim-cricket-v1")
	cmd.Dir = filepath.Join(filepath.Dir(here), "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the shim: %v\n%s", err, out)
	}
	return bin
}

// The start command answers with the address containerd's pkg/shim
// derives for the task's pod, in C when it can (nothing of Go runs: no
// GODEBUG=inittrace output) and in Go when the spec is out of its reach;
// the bundle's address file says the same.
func TestStartAnswersAsGoWould(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: shim sockets live in /run/containerd/s")
	}
	bin := shimBinary(t)
	const address, ns = "/run/cricket-faststart-test/containerd.sock", "fast-ns"
	for name, tc := range map[string]struct {
		spec  string // config.json; empty: none
		group string
		fast  bool
	}{
		"group annotation":    {`{"ociVersion":"1.2.0","process":{"env":["A=\"io.containerd.runc.v2.group\":\"x\""]},"annotations":{"io.containerd.runc.v2.group":"pod-1","io.kubernetes.cri.sandbox-id":"other"}}`, "pod-1", true},
		"sandbox annotation":  {`{"annotations":{"a":"b","io.kubernetes.cri.sandbox-id":"pod-2"},"linux":{"sysctl":{"io.containerd.runc.v2.group":"no"}}}`, "pod-2", true},
		"no annotation":       {`{"root":{"path":"rootfs","readonly":true},"x":[1,2.5e3,null,{"y":[]}]}`, "task-1", true},
		"no config.json":      {"", "task-1", true},
		"escaped group":       {`{"annotations":{"io.containerd.runc.v2.group":"pod\u002d3"}}`, "pod-3", false},
		"group Go would join": {`{"annotations":{"io.containerd.runc.v2.group":"../pod-4"}}`, "../pod-4", false},
	} {
		t.Run(name, func(t *testing.T) {
			bundle := t.TempDir()
			if tc.spec != "" {
				if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(tc.spec), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := cshim.SocketAddress(namespaces.WithNamespace(context.Background(), ns), address, tc.group, false)
			if err != nil {
				t.Fatal(err)
			}
			sock := strings.TrimPrefix(want, "unix://")
			os.MkdirAll(filepath.Dir(sock), 0o711)
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			cmd := exec.Command(bin, "-namespace", ns, "-address", address, "-publish-binary", "/bin/false", "-id", "task-1", "start")
			cmd.Dir = bundle
			cmd.Stdin = strings.NewReader("runtime options")
			cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("start: %v\n%s", err, stderr.String())
			}
			if stdout.String() != want {
				t.Errorf("start printed %q, want %q", stdout.String(), want)
			}
			if b, err := os.ReadFile(filepath.Join(bundle, "address")); err != nil || string(b) != want {
				t.Errorf("address file %q (%v), want %q", b, err, want)
			}
			if ranGo := strings.Contains(stderr.String(), "init runtime"); ranGo == tc.fast {
				t.Errorf("Go ran: %v, want %v", ranGo, !tc.fast)
			}
		})
	}
}
