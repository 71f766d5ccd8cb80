package testrig

import (
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"

	"github.com/cricket-cri/cricket/internal/shimclient"
)

// DialShim connects to a containerd shim's task API at addr (as the
// bundle's address file holds it), for tests that act behind containerd's
// back to reproduce what a crash leaves.
func DialShim(tb testing.TB, addr string) taskapi.TTRPCTaskService {
	tb.Helper()
	c, shim, err := shimclient.Dial(addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial shim %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return shim
}
