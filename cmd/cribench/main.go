// Command cribench measures CRI runtimes: pod and container life-cycle
// latencies (median, p90, p99), pods started in parallel, and the daemon's
// CPU and memory per pod. Given two endpoints it alternates between them
// and prints the ratio of the medians.
//
//	cribench -self-host -compare          # cricketd vs containerd's CRI plugin, all started here
//	cribench -endpoint unix:///run/cricket/cricket.sock -image busybox
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/bench"
)

var pullOnlyFlag *string

var cpuPerOpFlag = flag.Bool("cpu-per-op", false, "also report the daemons' CPU time per operation of the sequential life cycle")

func main() {
	var (
		selfHost  = flag.Bool("self-host", false, "start a registry, containerd and cricketd (and, with -compare, containerd's CRI plugin) for the run")
		cricketd  = flag.String("cricketd", "bin/cricketd", "cricketd binary (with -self-host)")
		compare   = flag.Bool("compare", false, "with -self-host: compare with containerd's built-in CRI plugin")
		network   = flag.String("network", "cni", "with -self-host: cricket's network.mode (cni or bridge)")
		sbMode    = flag.String("sandbox-mode", "pause", "with -self-host: cricket's sandbox_mode (pause or pinned)")
		rtHandler = flag.String("runtime", "cricket", "with -self-host: cricket's default runtime handler (cricket: its own shim, found next to -cricketd; runc: containerd's runc shim)")
		endpoint  = flag.String("endpoint", "", "CRI endpoint to measure (without -self-host)")
		other     = flag.String("other", "", "second CRI endpoint to compare with")
		image     = flag.String("image", "", "container image (without -self-host)")
		n         = flag.Int("n", 20, "sequential pod life cycles per endpoint")
		parallel  = flag.Int("parallel", 10, "pods started at once in the parallel phase (0 skips it)")
		rounds    = flag.Int("rounds", 3, "rounds of the parallel phase")
		pull      = flag.Bool("pull", false, "with -self-host: measure PullImage (a large multi-layer image, one of many small layers, 4 images at once) instead of pods")
		pullOnly  = flag.String("pull-only", "", "with -pull: only the scenarios whose names contain one of these comma-separated words (large, small, once)")
		pullMCD   = flag.Int("max-concurrent-downloads", 0, "with -self-host: cricket's max_concurrent_downloads (0: its default)")
		maxRatios = flag.String("max-ratio", "", "fail when cricket/other medians exceed these, e.g. RunPodSandbox=0.9,StartContainer=1.1")
		verbose   = flag.Bool("verbose-status", false, "also time verbose PodSandboxStatus and ContainerStatus (crictl inspect, critest's benchmark) in each life cycle")
	)
	flag.Parse()
	pullOnlyFlag = pullOnly
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *selfHost, *cricketd, *compare, *network, *sbMode, *rtHandler, *endpoint, *other, *image, *n, *parallel, *rounds, *maxRatios, *verbose, *pull, *pullMCD); err != nil {
		fmt.Fprintln(os.Stderr, "cribench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, selfHost bool, cricketd string, compare bool, network, sbMode, rtHandler, endpoint, other, image string, n, parallel, rounds int, maxRatios string, verbose bool, pull bool, mcd int) error {
	if pull && !selfHost {
		return fmt.Errorf("-pull needs -self-host")
	}
	var eps []*bench.Endpoint
	var scenarios []bench.PullScenario
	logDir, err := os.MkdirTemp("", "cribench-logs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logDir)
	if selfHost {
		env, err := bench.SelfHost(ctx, bench.EnvOptions{Cricketd: cricketd, Network: network, SandboxMode: sbMode, Compare: compare, Runtime: rtHandler,
			Pull: pull, PullOnly: *pullOnlyFlag, MaxConcurrentDownloads: mcd,
			Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			return err
		}
		defer env.Close()
		image = env.Image
		scenarios = env.PullScenarios
		a, err := bench.Dial("cricket", env.CricketAddr, env.CricketPIDs...)
		if err != nil {
			return err
		}
		a.ContainerdAddress = env.CricketContainerd
		eps = append(eps, a)
		if compare {
			b, err := bench.Dial("containerd", env.CompareAddr, env.ComparePIDs...)
			if err != nil {
				return err
			}
			b.ContainerdAddress = env.CompareContainerd
			eps = append(eps, b)
		}
	} else {
		if endpoint == "" || image == "" {
			return fmt.Errorf("give -self-host, or -endpoint and -image")
		}
		a, err := bench.Dial("first", endpoint)
		if err != nil {
			return err
		}
		eps = append(eps, a)
		if other != "" {
			b, err := bench.Dial("second", other)
			if err != nil {
				return err
			}
			eps = append(eps, b)
		}
	}
	defer func() {
		for _, e := range eps {
			purge(e)
			e.Close()
		}
	}()
	var rep *bench.Report
	if pull {
		rep, err = bench.RunPull(ctx, bench.PullOptions{Rounds: rounds, Progress: os.Stderr}, scenarios, eps...)
	} else {
		rep, err = bench.Run(ctx, bench.Options{Iterations: n, Parallel: parallel, Rounds: rounds, Image: image, LogDir: logDir, Progress: os.Stderr, VerboseStatus: verbose, CPUPerOp: *cpuPerOpFlag}, eps...)
	}
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	if maxRatios != "" && len(eps) == 2 {
		var failed []string
		for _, kv := range strings.Split(maxRatios, ",") {
			op, limit, _ := strings.Cut(kv, "=")
			l, err := strconv.ParseFloat(limit, 64)
			if err != nil {
				return fmt.Errorf("-max-ratio %q: %w", kv, err)
			}
			if r := rep.Ratio(op, eps[0].Name, eps[1].Name); r > l {
				failed = append(failed, fmt.Sprintf("%s %.2f > %.2f", op, r, l))
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("ratios above their limits: %s", strings.Join(failed, "; "))
		}
	}
	return nil
}

// purge removes every pod a failed run may have left.
func purge(e *bench.Endpoint) {
	ctx := context.Background()
	resp, err := e.Runtime.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
	if err != nil {
		return
	}
	for _, p := range resp.Items {
		if strings.HasPrefix(p.GetMetadata().GetName(), "bench-") {
			e.Runtime.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: p.Id})
			e.Runtime.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: p.Id})
		}
	}
}
