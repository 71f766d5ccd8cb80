// Package kubelet is cricket's kubelet end-to-end suite: a real kubelet
// (built from the k8s.io/kubernetes module that kubeletbin pins) runs in
// standalone mode against a cricketd and a containerd the tests start,
// with static pods, and the tests check what kubelet reports through its
// read-only API and what cricket reports through the CRI.
package kubelet

import (
	"testing"

	"github.com/cricket-cri/cricket/internal/testrig"
)

func TestMain(m *testing.M) { testrig.RunMain(m) }
