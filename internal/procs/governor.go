// Package procs fits cricketd's number of Go processors (GOMAXPROCS) to
// the CPU its work needs.
//
// Most of cricketd's work is short bursts between waits on containerd,
// shims and CNI plugins. With more processors than that work keeps busy,
// the Go scheduler wakes an idle processor's thread for nearly every
// goroutine that becomes ready (a gRPC reply, a finished plugin), and the
// thread spins looking for work before it sleeps again: on the benchmark
// host, one processor instead of two took cricketd's CPU per pod life
// cycle from 27.0 to 22.2 ms with the same latencies. Some work is
// CPU-bound and parallel, though: layer decompression during pulls, log
// copying for chatty containers, stats of many containers. So cricketd
// starts with one processor, and a governor samples the process's CPU use
// and doubles the processors as soon as the work fills those it has, and
// gives one back when the work would fit in fewer for a while.
//
// GOMAXPROCS in cricketd's environment turns the governor off: the
// operator's number is kept.
package procs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"syscall"
	"time"
)

const (
	// interval is how often CPU use is sampled.
	interval = 100 * time.Millisecond
	// busy is the share of its processors the work must use for more.
	busy = 0.7
	// idleFor is how long the work must fit in one processor fewer
	// (used at most half of them) before one is given back.
	idleFor = 2 * time.Second
)

// Govern runs the governor until ctx is done, between one processor and
// the number the Go runtime chose at start (the CPUs cricketd may use).
// It returns at once, doing nothing, if GOMAXPROCS is set in the
// environment or only one CPU is available.
func Govern(ctx context.Context, log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	most := runtime.GOMAXPROCS(0)
	if most <= 1 {
		return
	}
	runtime.GOMAXPROCS(1)
	go func() {
		defer runtime.GOMAXPROCS(most)
		g := governor{procs: 1, most: most}
		t := time.NewTicker(interval)
		defer t.Stop()
		last, lastCPU := time.Now(), cpuTime()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				cpu, elapsed := cpuTime(), now.Sub(last)
				if elapsed <= 0 {
					continue
				}
				used := float64(cpu-lastCPU) / float64(elapsed)
				last, lastCPU = now, cpu
				if n := g.next(used, elapsed); n != g.procs {
					log.Debug("processors", "from", g.procs, "to", n, "cpus_used", fmt.Sprintf("%.2f", used))
					g.procs = n
					runtime.GOMAXPROCS(n)
				}
			}
		}
	}()
}

// governor decides the number of processors from the CPU used.
type governor struct {
	procs, most int
	// low is how long the work has fit in one processor fewer.
	low time.Duration
}

// next returns the processors for the next interval, given the CPU used
// (in CPUs) over the last one, which lasted elapsed.
func (g *governor) next(used float64, elapsed time.Duration) int {
	if used > busy*float64(g.procs) && g.procs < g.most {
		g.low = 0
		return min(g.most, 2*g.procs)
	}
	if g.procs > 1 && used < 0.5*float64(g.procs-1) {
		if g.low += elapsed; g.low >= idleFor {
			g.low = 0
			return g.procs - 1
		}
		return g.procs
	}
	g.low = 0
	return g.procs
}

// cpuTime is the CPU time the process has used, all threads, user and
// system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
