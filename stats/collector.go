package stats

import (
	"log/slog"
	"sync"
	"time"
)

// Target is something to measure: a container or pod and its cgroup.
type Target struct {
	ID         string
	CgroupPath string
}

// Collector samples targets every period in the background and keeps the
// last two samples of each, for rates.
type Collector struct {
	period time.Duration
	source func() []Target
	log    *slog.Logger

	mu      sync.Mutex
	samples map[string][2]*Sample // [previous, latest]

	stop chan struct{}
	done chan struct{}
}

// NewCollector returns a collector over the targets source lists.
func NewCollector(period time.Duration, source func() []Target, log *slog.Logger) *Collector {
	return &Collector{period: period, source: source, log: log, samples: map[string][2]*Sample{}}
}

// SetSource sets what to sample (before Start).
func (c *Collector) SetSource(source func() []Target) { c.source = source }

// Start begins background sampling.
func (c *Collector) Start() {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.period)
		defer t.Stop()
		for {
			c.collect()
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends background sampling.
func (c *Collector) Stop() {
	if c.stop != nil {
		close(c.stop)
		<-c.done
	}
}

func (c *Collector) collect() {
	targets := c.source()
	live := make(map[string]bool, len(targets))
	for _, t := range targets {
		live[t.ID] = true
		if s, err := ReadCgroup(t.CgroupPath); err == nil {
			c.record(t.ID, s)
		}
	}
	c.mu.Lock()
	for id := range c.samples {
		if !live[id] {
			delete(c.samples, id)
		}
	}
	c.mu.Unlock()
}

func (c *Collector) record(id string, s *Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pair := c.samples[id]
	if pair[1] != nil && !s.Time.After(pair[1].Time) {
		return
	}
	c.samples[id] = [2]*Sample{pair[1], s}
}

// Get returns the latest sample of target and the CPU cores it used
// between the last two samples (nil until there are two). A target not yet
// sampled, or sampled longer than a period ago, is sampled now.
func (c *Collector) Get(t Target) (*Sample, *uint64, error) {
	c.mu.Lock()
	pair := c.samples[t.ID]
	c.mu.Unlock()
	if pair[1] == nil || time.Since(pair[1].Time) > c.period {
		s, err := ReadCgroup(t.CgroupPath)
		if err != nil {
			return nil, nil, err
		}
		c.record(t.ID, s)
		c.mu.Lock()
		pair = c.samples[t.ID]
		c.mu.Unlock()
	}
	return pair[1], NanoCores(pair[0], pair[1]), nil
}

// NanoCores is the CPU time used per second between two samples, in
// nanoseconds per second (1e9 = one full core).
func NanoCores(prev, cur *Sample) *uint64 {
	if prev == nil || cur == nil || !cur.Time.After(prev.Time) || cur.CPUUsageNanos < prev.CPUUsageNanos {
		return nil
	}
	v := uint64(float64(cur.CPUUsageNanos-prev.CPUUsageNanos) / cur.Time.Sub(prev.Time).Seconds())
	return &v
}
