package integration

import (
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// defaultOnCricketShim makes cricket's shim the default handler, as it is
// out of the box.
func defaultOnCricketShim(c *config.Config) { c.DefaultRuntime = config.CricketRuntimeHandler }

// forEachShim runs a test once per runtime handler (see handlers), in
// parallel, with that handler as the test daemon's default: tests written
// for the default handler (pods without a runtime_handler) run unchanged
// on each. configure goes into the test daemon's options.
func forEachShim(t *testing.T, test func(t *testing.T, configure func(*config.Config))) {
	for _, h := range handlers {
		t.Run(h, func(t *testing.T) {
			t.Parallel()
			test(t, func(c *config.Config) { c.DefaultRuntime = h })
		})
	}
}

// both applies two config edits in order.
func both(a, b func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		if a != nil {
			a(c)
		}
		if b != nil {
			b(c)
		}
	}
}

// censusBase pulls the sandbox image (its snapshots are not a pod's) and
// takes the leak census a test compares with at its end; pods from
// censusPod are under the cgroup parent it inspects.
func censusBase(t *testing.T, d *testrig.Daemon) testrig.Resources {
	t.Helper()
	pull(t, d, d.PauseImage)
	return d.Resources(t, d.CgroupParent(""))
}

// censusPod runs a pod with a fresh log directory under the daemon's test
// cgroup parent (see censusBase).
func censusPod(t *testing.T, d *testrig.Daemon, name string) (string, *runtime.PodSandboxConfig) {
	t.Helper()
	pod := podConfig(name)
	pod.LogDirectory = t.TempDir()
	pod.Linux.CgroupParent = d.CgroupParent("")
	return runPod(t, d, pod), pod
}

// checkNoLeaks fails the test if the daemon holds anything it did not at
// the census base.
func checkNoLeaks(t *testing.T, d *testrig.Daemon, base testrig.Resources) {
	t.Helper()
	if diff := base.Diff(d.Resources(t, d.CgroupParent(""))); diff != "" {
		t.Fatalf("left behind:\n%s", diff)
	}
}
