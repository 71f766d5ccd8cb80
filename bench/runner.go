package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Endpoint is one CRI runtime under measurement.
type Endpoint struct {
	Name    string
	Runtime runtime.RuntimeServiceClient
	Images  runtime.ImageServiceClient
	// PIDs of the runtime's processes (for cricket: cricketd and its
	// containerd), for CPU and memory per pod; none: not measured.
	PIDs []int
	// RuntimeHandler is the handler pods are run with ("" for the
	// runtime's default).
	RuntimeHandler string
	// ContainerdAddress, if set, is the address of the containerd that
	// runs the endpoint's shims: their memory per pod is measured too.
	ContainerdAddress string
	conn              *grpc.ClientConn
}

// Dial connects to a CRI endpoint ("unix:///path").
func Dial(name, address string, pids ...int) (*Endpoint, error) {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		return nil, err
	}
	return &Endpoint{Name: name, Runtime: runtime.NewRuntimeServiceClient(conn), Images: runtime.NewImageServiceClient(conn), PIDs: pids, conn: conn}, nil
}

// Close closes the connection.
func (e *Endpoint) Close() error { return e.conn.Close() }

// Options say what to measure.
type Options struct {
	// Iterations of the sequential pod life cycle per endpoint.
	Iterations int
	// Parallel pods started at once in the parallel phase (0 skips it).
	Parallel int
	// Rounds of the parallel phase.
	Rounds int
	// Image is the container image (pulled first on each endpoint).
	Image string
	// LogDir holds the pods' CRI logs.
	LogDir   string
	Progress io.Writer
	// VerboseStatus adds verbose PodSandboxStatus and ContainerStatus
	// calls to each life cycle, after the plain ones (kubelet makes only
	// plain ones; crictl inspect and critest's benchmark verbose ones).
	VerboseStatus bool
	// CPUPerOp adds the mean CPU time the endpoint's processes spent
	// during each operation of the sequential cycle (from its start to
	// its end: work a call leaves running in the background counts in the
	// next one). /proc's clock ticks are coarse for one call; their mean
	// over many is not.
	CPUPerOp bool
}

// Report is a run's measurements.
type Report struct {
	result *result
	// cpuOps: the endpoints' CPU time per operation (Options.CPUPerOp).
	cpuOps    *result
	endpoints []string
	resources map[string]*usage
	// pullOnly: a pull benchmark's report (RunPull).
	pullOnly bool
}

type usage struct {
	cpuPerPod time.Duration // daemon CPU time per sequential pod life cycle
	// The same per process, in the order of the endpoint's PIDs (for
	// cricket: cricketd, then its containerd).
	cpuPerPodEach []time.Duration
	rssPerPod     int64 // daemon RSS growth per running pod (bytes)
	// The shims' resident and proportional memory per running pod
	// (bytes): PSS shares the pages the shims map together (their
	// binary's text) among them.
	shimRSS, shimPSS int64
	// pullCPU is the daemon CPU time per measured pull step (RunPull).
	pullCPU time.Duration
}

// Run measures the endpoints, alternating between them at every step so
// that a noisy machine slows all of them alike.
func Run(ctx context.Context, o Options, eps ...*Endpoint) (*Report, error) {
	rep := &Report{result: newResult(), resources: map[string]*usage{}}
	if o.CPUPerOp {
		rep.cpuOps = newResult()
	}
	for _, e := range eps {
		rep.endpoints = append(rep.endpoints, e.Name)
		rep.resources[e.Name] = &usage{}
		if _, err := e.Images.PullImage(ctx, &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: o.Image}}); err != nil {
			return nil, fmt.Errorf("%s: pull %s: %w", e.Name, o.Image, err)
		}
		// Warm up: the first pod pulls the sandbox image and starts caches.
		if err := cycle(ctx, o, e, newResult(), nil, "warmup"); err != nil {
			return nil, fmt.Errorf("%s: warm-up: %w", e.Name, err)
		}
	}
	cpu0 := map[string]time.Duration{}
	cpuEach0 := map[string][]time.Duration{}
	for _, e := range eps {
		cpu0[e.Name] = cpuTime(e.PIDs)
		for _, pid := range e.PIDs {
			cpuEach0[e.Name] = append(cpuEach0[e.Name], cpuTime([]int{pid}))
		}
	}
	for i := range o.Iterations {
		for _, e := range eps {
			progress(o.Progress, "sequential %d/%d on %s", i+1, o.Iterations, e.Name)
			if err := cycle(ctx, o, e, rep.result, rep.cpuOps, strconv.Itoa(i)); err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name, err)
			}
		}
	}
	for _, e := range eps {
		if o.Iterations > 0 {
			rep.resources[e.Name].cpuPerPod = (cpuTime(e.PIDs) - cpu0[e.Name]) / time.Duration(o.Iterations)
			rep.resources[e.Name].cpuPerPodEach = nil
			for i, pid := range e.PIDs {
				rep.resources[e.Name].cpuPerPodEach = append(rep.resources[e.Name].cpuPerPodEach, (cpuTime([]int{pid})-cpuEach0[e.Name][i])/time.Duration(o.Iterations))
			}
		}
	}
	for r := range o.Rounds {
		if o.Parallel == 0 {
			break
		}
		for _, e := range eps {
			progress(o.Progress, "parallel round %d/%d (%d pods) on %s", r+1, o.Rounds, o.Parallel, e.Name)
			if err := parallel(ctx, o, e, rep, r); err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name, err)
			}
		}
	}
	progress(o.Progress, "done")
	if o.Progress != nil {
		fmt.Fprintln(o.Progress)
	}
	return rep, nil
}

// cycle runs one pod's life: sandbox, one container, exec, and teardown,
// timing every call, and adding to cpu (if not nil) the CPU time the
// endpoint spent during each.
func cycle(ctx context.Context, o Options, e *Endpoint, r, cpu *result, tag string) error {
	name := fmt.Sprintf("bench-%s-%s", e.Name, tag)
	pod := podConfig(o, name)
	timed := func(op string, f func() error) error {
		var cpu0 time.Duration
		if cpu != nil {
			cpu0 = cpuTime(e.PIDs)
		}
		start := time.Now()
		err := f()
		r.add(e.Name, op, time.Since(start))
		if cpu != nil {
			cpu.add(e.Name, op, cpuTime(e.PIDs)-cpu0)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	}
	var podID, ctrID string
	start := time.Now()
	if err := timed("RunPodSandbox", func() error {
		resp, err := e.Runtime.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{Config: pod, RuntimeHandler: e.RuntimeHandler})
		podID = resp.GetPodSandboxId()
		return err
	}); err != nil {
		return err
	}
	if err := timed("CreateContainer", func() error {
		resp, err := e.Runtime.CreateContainer(ctx, &runtime.CreateContainerRequest{PodSandboxId: podID, Config: ctrConfig(o), SandboxConfig: pod})
		ctrID = resp.GetContainerId()
		return err
	}); err != nil {
		return err
	}
	if err := timed("StartContainer", func() error {
		_, err := e.Runtime.StartContainer(ctx, &runtime.StartContainerRequest{ContainerId: ctrID})
		return err
	}); err != nil {
		return err
	}
	r.add(e.Name, "pod start (sandbox+ctr)", time.Since(start))
	steps := []struct {
		op string
		f  func() error
	}{
		{"PodSandboxStatus", func() error {
			_, err := e.Runtime.PodSandboxStatus(ctx, &runtime.PodSandboxStatusRequest{PodSandboxId: podID})
			return err
		}},
		{"ContainerStatus", func() error {
			_, err := e.Runtime.ContainerStatus(ctx, &runtime.ContainerStatusRequest{ContainerId: ctrID})
			return err
		}},
		{"PodSandboxStatus (verbose)", func() error {
			_, err := e.Runtime.PodSandboxStatus(ctx, &runtime.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
			return err
		}},
		{"ContainerStatus (verbose)", func() error {
			_, err := e.Runtime.ContainerStatus(ctx, &runtime.ContainerStatusRequest{ContainerId: ctrID, Verbose: true})
			return err
		}},
		{"ExecSync", func() error {
			resp, err := e.Runtime.ExecSync(ctx, &runtime.ExecSyncRequest{ContainerId: ctrID, Cmd: []string{"true"}, Timeout: 30})
			if err == nil && resp.ExitCode != 0 {
				err = fmt.Errorf("exit code %d", resp.ExitCode)
			}
			return err
		}},
		{"StopContainer", func() error {
			_, err := e.Runtime.StopContainer(ctx, &runtime.StopContainerRequest{ContainerId: ctrID, Timeout: 10})
			return err
		}},
		{"RemoveContainer", func() error {
			_, err := e.Runtime.RemoveContainer(ctx, &runtime.RemoveContainerRequest{ContainerId: ctrID})
			return err
		}},
		{"StopPodSandbox", func() error {
			_, err := e.Runtime.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: podID})
			return err
		}},
		{"RemovePodSandbox", func() error {
			_, err := e.Runtime.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: podID})
			return err
		}},
	}
	for _, s := range steps {
		if strings.HasSuffix(s.op, "(verbose)") && !o.VerboseStatus {
			continue
		}
		if err := timed(s.op, s.f); err != nil {
			return err
		}
	}
	return nil
}

// parallel starts o.Parallel pods (sandbox + container) at once, measures
// each pod's start and the whole batch, the daemon's memory with all of
// them running, then removes them.
func parallel(ctx context.Context, o Options, e *Endpoint, rep *Report, round int) error {
	rss0 := rss(e.PIDs)
	ids := make([]string, o.Parallel)
	errs := make([]error, o.Parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.Parallel {
		wg.Go(func() {
			t0 := time.Now()
			pod := podConfig(o, fmt.Sprintf("bench-%s-p%d-%d", e.Name, round, i))
			sb, err := e.Runtime.RunPodSandbox(ctx, &runtime.RunPodSandboxRequest{Config: pod, RuntimeHandler: e.RuntimeHandler})
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = sb.PodSandboxId
			c, err := e.Runtime.CreateContainer(ctx, &runtime.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, Config: ctrConfig(o), SandboxConfig: pod})
			if err == nil {
				_, err = e.Runtime.StartContainer(ctx, &runtime.StartContainerRequest{ContainerId: c.ContainerId})
			}
			errs[i] = err
			rep.result.add(e.Name, fmt.Sprintf("parallel pod start (%d)", o.Parallel), time.Since(t0))
		})
	}
	wg.Wait()
	rep.result.add(e.Name, fmt.Sprintf("parallel batch (%d pods)", o.Parallel), time.Since(start))
	if rss1 := rss(e.PIDs); rss0 > 0 && rss1 > rss0 {
		rep.resources[e.Name].rssPerPod = max(rep.resources[e.Name].rssPerPod, (rss1-rss0)/int64(o.Parallel))
	}
	if e.ContainerdAddress != "" {
		r, p := shimMemory(e.ContainerdAddress)
		u := rep.resources[e.Name]
		u.shimRSS, u.shimPSS = max(u.shimRSS, r/int64(o.Parallel)), max(u.shimPSS, p/int64(o.Parallel))
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		wg.Go(func() {
			e.Runtime.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: id})
			e.Runtime.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: id})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("parallel pods: %w", err)
		}
	}
	return nil
}

func podConfig(o Options, name string) *runtime.PodSandboxConfig {
	return &runtime.PodSandboxConfig{
		Metadata:     &runtime.PodSandboxMetadata{Name: name, Namespace: "bench", Uid: name},
		Hostname:     name,
		LogDirectory: o.LogDir + "/" + name,
		// As kubelet sends a pod without shareProcessNamespace.
		Linux: &runtime.LinuxPodSandboxConfig{SecurityContext: &runtime.LinuxSandboxSecurityContext{
			NamespaceOptions: kubeletNamespaces,
		}},
	}
}

func ctrConfig(o Options) *runtime.ContainerConfig {
	return &runtime.ContainerConfig{
		Metadata: &runtime.ContainerMetadata{Name: "c"},
		Image:    &runtime.ImageSpec{Image: o.Image},
		// The process is its PID namespace's init, which the kernel
		// shields from signals it has no handler for: it traps SIGTERM,
		// as a real workload does, so that StopContainer measures a stop
		// rather than the grace period.
		Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"},
		LogPath: "c.log",
		Linux: &runtime.LinuxContainerConfig{SecurityContext: &runtime.LinuxContainerSecurityContext{
			NamespaceOptions: kubeletNamespaces,
		}},
	}
}

// kubeletNamespaces are the namespace options kubelet sends, for the pod
// and each container, for a pod without shareProcessNamespace: the pod's
// network and IPC namespaces, a PID namespace per container.
var kubeletNamespaces = &runtime.NamespaceOption{Pid: runtime.NamespaceMode_CONTAINER}

// Print writes the report.
func (r *Report) Print(w io.Writer) {
	r.result.print(w, r.endpoints)
	fmt.Fprintln(w)
	if r.cpuOps != nil {
		r.cpuOps.printMeans(w, "CPU per operation", r.endpoints)
		fmt.Fprintln(w)
	}
	if r.pullOnly {
		for _, e := range r.endpoints {
			fmt.Fprintf(w, "%s: daemon CPU per pull step %s\n", e, ms(r.resources[e].pullCPU))
		}
		return
	}
	for _, e := range r.endpoints {
		u := r.resources[e]
		fmt.Fprintf(w, "%s: daemon CPU per pod life cycle %s", e, ms(u.cpuPerPod))
		if len(u.cpuPerPodEach) > 1 {
			var each []string
			for _, d := range u.cpuPerPodEach {
				each = append(each, ms(d))
			}
			fmt.Fprintf(w, " (%s)", strings.Join(each, " + "))
		}
		fmt.Fprintf(w, ", daemon RSS per running pod %.1f KiB", float64(u.rssPerPod)/1024)
		if u.shimRSS > 0 {
			fmt.Fprintf(w, ", shim RSS per running pod %.1f MiB (PSS %.1f MiB)", float64(u.shimRSS)/(1<<20), float64(u.shimPSS)/(1<<20))
		}
		fmt.Fprintln(w)
	}
}

// Ratio is endpoint a's median over endpoint b's for an operation.
func (r *Report) Ratio(op, a, b string) float64 { return r.result.ratio(op, a, b) }

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "\r\033[K"+format, args...)
	}
}

// cpuTime is the processes' user+system CPU time (/proc/<pid>/stat).
func cpuTime(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
	}
	return total
}

// shimMemory sums the resident and proportional memory (bytes) of the
// shim processes serving the containerd at address.
func shimMemory(address string) (rssBytes, pssBytes int64) {
	ents, _ := os.ReadDir("/proc")
	for _, en := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", en.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") || !slices.Contains(args, address) {
			continue
		}
		sm, err := os.ReadFile(filepath.Join("/proc", en.Name(), "smaps_rollup"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(sm), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				rssBytes += kb * 1024
			case "Pss:":
				pssBytes += kb * 1024
			}
		}
	}
	return rssBytes, pssBytes
}

// rss is the processes' resident memory in bytes.
func rss(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total += kb * 1024
			}
		}
	}
	return total
}
