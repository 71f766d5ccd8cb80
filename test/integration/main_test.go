// Package integration holds cricket's end-to-end tests: each runs a real
// cricketd against a real containerd and drives it only through the CRI
// gRPC API. They need root and Debian's containerd, runc and busybox-static.
package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cricket-cri/cricket/internal/testrig"
)

func TestMain(m *testing.M) { testrig.RunMain(m, removePodLogs) }

// podLogs hands out a log directory no other pod of this run uses (tests
// run in parallel and one's cleanup must not remove another's logs). The
// directory itself is left for cricketd to create, as kubelet would.
var podLogs struct {
	once sync.Once
	root string
	seq  atomic.Int64
}

func podLogDir(name string) string {
	podLogs.once.Do(func() {
		dir, err := os.MkdirTemp("", "ck-pod-logs-")
		if err != nil {
			panic(err)
		}
		podLogs.root = dir
	})
	return filepath.Join(podLogs.root, fmt.Sprintf("%s-%d", name, podLogs.seq.Add(1)))
}

func removePodLogs() {
	if podLogs.root != "" {
		os.RemoveAll(podLogs.root)
	}
}
