package stats

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// The collector keeps the last two samples of each target in time order,
// drops an older one arriving late, and forgets targets that went away.
func TestCollectorKeepsTwoSamplesInOrder(t *testing.T) {
	c := NewCollector(time.Hour, func() []Target { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Now()
	s1 := &Sample{Time: now.Add(-2 * time.Second), CPUUsageNanos: 1e9}
	s2 := &Sample{Time: now.Add(-time.Second), CPUUsageNanos: 3e9}
	c.record("a", s1)
	if _, cores, err := c.Get(Target{ID: "a"}); err != nil || cores != nil {
		t.Fatalf("one sample: cores %v, %v; want none yet", cores, err)
	}
	c.record("a", s2)
	c.record("a", &Sample{Time: now.Add(-3 * time.Second)}) // late, older
	c.record("a", &Sample{Time: s2.Time})                   // not newer
	got, cores, err := c.Get(Target{ID: "a"})
	if err != nil || got != s2 || cores == nil || *cores != 2e9 {
		t.Fatalf("Get = %v, %v, %v; want the latest sample and 2 cores", got, cores, err)
	}

	// A target whose sample is older than a period is read again: one
	// whose cgroup is gone fails.
	c.period = time.Millisecond
	if _, _, err := c.Get(Target{ID: "a", CgroupPath: "/cricket-unit-test/no-such-cgroup"}); err == nil {
		t.Error("a stale sample of a missing cgroup was served")
	}

	// A collection without "a" among the targets forgets it.
	c.collect()
	c.mu.Lock()
	n := len(c.samples)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d targets kept after they went away", n)
	}
}
