// Package shimclient dials a containerd runtime v2 shim's task API
// directly, for what containerd does not do on cricket's behalf: the
// sandbox manager talks to the shim it starts ahead of a pinned pod's
// containers, and integration tests act behind containerd's back to
// reproduce what a crash leaves.
package shimclient

import (
	"net"
	"strings"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/ttrpc"
)

// Dial connects to the shim listening at addr, as the shim's start command
// prints it and its bundle's address file holds it ("unix://" optional).
// The caller closes the returned connection.
func Dial(addr string, timeout time.Duration) (*ttrpc.Client, taskapi.TTRPCTaskService, error) {
	conn, err := net.DialTimeout("unix", strings.TrimPrefix(addr, "unix://"), timeout)
	if err != nil {
		return nil, nil, err
	}
	c := ttrpc.NewClient(conn)
	return c, taskapi.NewTTRPCTaskClient(c), nil
}
