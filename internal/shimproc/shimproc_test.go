package shimproc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
)

func cmdline(args ...string) []byte { return []byte(strings.Join(args, "\x00") + "\x00") }

func TestParse(t *testing.T) {
	for name, tc := range map[string]struct {
		cmdline []byte
		want    Shim
		ok      bool
	}{
		"runc shim": {
			cmdline(
				"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "abc", "-address", "/run/containerd/containerd.sock"),
			Shim{PID: 7, Binary: "containerd-shim-runc-v2", Namespace: "k8s.io", ID: "abc", Address: "/run/containerd/containerd.sock"},
			true,
		},
		// Started by its own start command, with its path as argv[0].
		"cricket shim": {
			cmdline("/usr/local/bin/containerd-shim-cricket-v1", "-namespace", "k8s.io", "-id", "pod", "-address", "/run/c.sock", "-debug"),
			Shim{PID: 7, Binary: "containerd-shim-cricket-v1", Namespace: "k8s.io", ID: "pod", Address: "/run/c.sock"},
			true,
		},
		"start command": {
			cmdline("containerd-shim-cricket-v1", "-namespace", "k8s.io", "-address", "/run/c.sock", "-publish-binary", "/usr/bin/containerd", "-id", "c1", "start"),
			Shim{}, false,
		},
		"delete command": {
			cmdline("containerd-shim-runc-v2", "-namespace", "k8s.io", "-address", "/run/c.sock", "-publish-binary", "/usr/bin/containerd", "-id", "c1", "-bundle", "/b", "delete"),
			Shim{}, false,
		},
		// libcontainer re-executes cricket's shim as a container's init.
		"container init": {cmdline("/usr/local/bin/containerd-shim-cricket-v1", "init"), Shim{}, false},
		"other process":  {cmdline("/usr/bin/containerd", "--config", "x", "-namespace", "k8s.io"), Shim{}, false},
		"kernel thread":  {nil, Shim{}, false},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := Parse(7, tc.cmdline)
			if ok != tc.ok || got != tc.want {
				t.Errorf("Parse = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestSocketPath: the socket is where containerd's shim package puts it.
func TestSocketPath(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	want, err := cshim.SocketAddress(ctx, "/run/containerd/containerd.sock", "pod-id", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := SocketPath("/run/containerd/containerd.sock", "k8s.io", "pod-id"); "unix://"+got != want {
		t.Errorf("SocketPath = %s, containerd's shims use %s", got, want)
	}
}

func TestRemoveDeadSocket(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dead := filepath.Join(dir, "dead")
	d, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	d.(*net.UnixListener).SetUnlinkOnClose(false)
	d.Close() // as a killed shim leaves it
	if RemoveDeadSocket(live) {
		t.Error("removed the socket of a listening shim")
	}
	if !RemoveDeadSocket(dead) {
		t.Error("kept the socket of a dead shim")
	}
	for path, want := range map[string]bool{live: true, dead: false} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", path, err == nil, want)
		}
	}
	if RemoveDeadSocket(filepath.Join(dir, "none")) {
		t.Error("removed a socket that does not exist")
	}
}
