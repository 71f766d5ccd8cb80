// Package integration holds cricket's end-to-end tests: each runs a real
// cricketd against a real containerd and drives it only through the CRI
// gRPC API. They need root and Debian's containerd, runc and busybox-static.
package integration

import (
	"testing"

	"github.com/cricket-cri/cricket/internal/testrig"
)

func TestMain(m *testing.M) { testrig.RunMain(m) }
