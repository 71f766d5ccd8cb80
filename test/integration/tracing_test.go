package integration

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/cricket-cri/cricket/config"
	"github.com/cricket-cri/cricket/internal/otlprecv"
	"github.com/cricket-cri/cricket/internal/testrig"
)

const (
	criRuntime  = "runtime.v1.RuntimeService/"
	tasksCreate = "containerd.services.tasks.v1.Tasks/Create"
)

// TestTracingExportsCRIAndContainerdSpans starts a pod and a container on
// a cricketd that exports to a collector on loopback, and looks for what
// a user looks for in the trace: the CRI calls, named by pod and
// container, with the containerd calls they made under them.
func TestTracingExportsCRIAndContainerdSpans(t *testing.T) {
	recv := otlprecv.Start(t)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Configure: func(c *config.Config) {
		c.Tracing.Endpoint = recv.Addr
		c.Tracing.Insecure = true
	}})
	img := busybox(t, d)
	pod := podConfig("traced")
	podID := runPod(t, d, pod)
	ctrID := runContainer(t, d, podID, pod, ctrConfig("sleeper", img, "sleep", "3600"))

	var missing string
	waitFor(t, 30*time.Second, "the pod's and the container's spans at the collector", func() bool {
		missing = missingSpans(recv.Spans(), podID, ctrID)
		return missing == ""
	}, func() string { return "missing: " + missing + "; received: " + fmt.Sprint(recv.Spans()) })
}

// missingSpans says what of the expected trace is not (yet) among spans.
func missingSpans(spans []otlprecv.Span, podID, ctrID string) string {
	// A CRI server span: by name and by the ID attribute a user filters on.
	criSpan := func(rpc, key, id string) *otlprecv.Span {
		for i, s := range spans {
			if s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Name == criRuntime+rpc && s.Attrs[key] == id && s.Service == "cricket" {
				return &spans[i]
			}
		}
		return nil
	}
	// containerd client spans that are direct children of parent.
	children := func(parent *otlprecv.Span) []string {
		var names []string
		for _, s := range spans {
			if s.Kind == tracepb.Span_SPAN_KIND_CLIENT && s.TraceID == parent.TraceID && s.Parent == parent.SpanID &&
				strings.HasPrefix(s.Name, "containerd.services.") {
				names = append(names, s.Name)
			}
		}
		return names
	}
	var missing []string
	run := criSpan("RunPodSandbox", "cri.pod_sandbox.id", podID)
	switch {
	case run == nil:
		missing = append(missing, "RunPodSandbox span with cri.pod_sandbox.id="+podID)
	case len(children(run)) == 0:
		// The sandbox is created on a goroutine detached from the call
		// (package reserve): the trace must survive it.
		missing = append(missing, "containerd calls under RunPodSandbox")
	}
	if criSpan("CreateContainer", "cri.container.id", ctrID) == nil {
		missing = append(missing, "CreateContainer span with cri.container.id="+ctrID)
	}
	if criSpan("CreateContainer", "cri.pod_sandbox.id", podID) == nil {
		missing = append(missing, "CreateContainer span with cri.pod_sandbox.id="+podID)
	}
	start := criSpan("StartContainer", "cri.container.id", ctrID)
	switch {
	case start == nil:
		missing = append(missing, "StartContainer span with cri.container.id="+ctrID)
	case !slices.Contains(children(start), tasksCreate):
		missing = append(missing, tasksCreate+" under StartContainer (got "+strings.Join(children(start), ", ")+")")
	}
	return strings.Join(missing, "; ")
}

// TestTracingOffExportsNothing: with the default (no endpoint), cricketd
// builds no exporter, even with the OpenTelemetry exporter's environment
// pointing at a listening collector.
func TestTracingOffExportsNothing(t *testing.T) {
	recv := otlprecv.Start(t)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Env: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + recv.Addr,
		"OTEL_EXPORTER_OTLP_INSECURE=true",
	}})
	pod := podConfig("untraced")
	podID := runPod(t, d, pod)
	runContainer(t, d, podID, pod, ctrConfig("sleeper", busybox(t, d), "sleep", "3600"))
	// A daemon exports on shutdown at the latest: stop it (it would flush
	// what it had) before counting.
	d.Stop()
	if n, spans := recv.Connections(), recv.Spans(); n != 0 || len(spans) != 0 {
		t.Errorf("tracing off: %d connections to the collector, spans %v", n, spans)
	}
}

// TestTracingUnresponsiveCollectorBlocksNothing: a collector that accepts
// connections and never answers neither slows the pod start nor holds up
// the daemon's shutdown beyond its flush bound.
func TestTracingUnresponsiveCollectorBlocksNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork(), Configure: func(c *config.Config) {
		c.Tracing.Endpoint = l.Addr().String()
		c.Tracing.Insecure = true
	}})
	img := busybox(t, d)
	pod := podConfig("blackhole")
	start := time.Now()
	podID := runPod(t, d, pod)
	runContainer(t, d, podID, pod, ctrConfig("sleeper", img, "sleep", "3600"))
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("pod start took %s with an unresponsive collector", took)
	}
	start = time.Now()
	d.Stop()
	// The daemon's flush bound is 5s; the rest is its ordinary shutdown.
	took := time.Since(start)
	t.Logf("cricketd stopped in %s", took)
	if took > 12*time.Second {
		t.Errorf("cricketd took %s to stop with an unresponsive collector", took)
	}
	// The spans it could not deliver are reported, not silently lost.
	if !d.Grep("tracing shutdown") {
		t.Error("no warning about the spans left unexported at shutdown")
	}
}
