package shim

import (
	"context"
	"testing"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
)

// The socket of a pod's shim is where containerd's pkg/shim (and so the
// start command of containerd's runc shim) puts it.
func TestSocketAddressIsContainerds(t *testing.T) {
	for _, tc := range []struct{ address, ns, group string }{
		{"/run/containerd/containerd.sock", "k8s.io", "0123abcd"},
		{"/tmp/x//containerd.sock/", "ns", "../g"},
	} {
		want, err := cshim.SocketAddress(namespaces.WithNamespace(context.Background(), tc.ns), tc.address, tc.group, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := socketAddress(tc.address, tc.ns, tc.group); got != want {
			t.Errorf("socketAddress(%q, %q, %q) = %q, want %q", tc.address, tc.ns, tc.group, got, want)
		}
	}
}
