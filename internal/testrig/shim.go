package testrig

import (
	"net"
	"strings"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/ttrpc"
)

// DialShim connects to a containerd shim's task API at addr (as the
// bundle's address file holds it), for tests that act behind containerd's
// back to reproduce what a crash leaves.
func DialShim(tb testing.TB, addr string) taskapi.TTRPCTaskService {
	tb.Helper()
	conn, err := net.DialTimeout("unix", strings.TrimPrefix(addr, "unix://"), 5*time.Second)
	if err != nil {
		tb.Fatalf("dial shim %s: %v", addr, err)
	}
	c := ttrpc.NewClient(conn)
	tb.Cleanup(func() { c.Close() })
	return taskapi.NewTTRPCTaskClient(c)
}
