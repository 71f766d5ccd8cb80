package integration

import (
	"testing"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/testrig"
)

// handlers are the runtime handlers the shared tests run on: runc's shim
// (the default handler) and cricket's own. Whatever the CRI offers must
// behave the same on both.
var handlers = []string{config.RuncRuntimeHandler, cricketHandler}

// forEachHandler runs a test once per runtime handler, in parallel.
func forEachHandler(t *testing.T, test func(t *testing.T, handler string)) {
	t.Parallel()
	for _, h := range handlers {
		t.Run(h, func(t *testing.T) {
			t.Parallel()
			test(t, h)
		})
	}
}

// handlerDaemon starts a test cricketd (both handlers are configured by
// default) with a pod network unless opts bring one.
func handlerDaemon(t *testing.T, opts testrig.DaemonOptions) *testrig.Daemon {
	t.Helper()
	if opts.Network == nil {
		opts.Network = testrig.NewPodNetwork()
	}
	return testrig.StartDaemon(t, opts)
}

// handlerFeatures returns what Status advertises for a runtime handler.
func handlerFeatures(t *testing.T, d *testrig.Daemon, handler string) *runtime.RuntimeHandlerFeatures {
	t.Helper()
	st, err := d.Runtime.Status(d.Ctx(), &runtime.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st.RuntimeHandlers {
		if h.Name == handler {
			return h.Features
		}
	}
	t.Fatalf("handler %q not in Status: %v", handler, st.RuntimeHandlers)
	return nil
}
