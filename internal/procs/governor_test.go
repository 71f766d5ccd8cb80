package procs

import "testing"

// The governor doubles the processors as soon as the work fills 70% of
// them, up to the most, and gives one back only after the work has fit in
// half of one fewer for two seconds in a row.
func TestGovernorFollowsTheWork(t *testing.T) {
	g := governor{procs: 1, most: 8}
	step := func(used float64, want int) {
		t.Helper()
		n := g.next(used, interval)
		g.procs = n
		if n != want {
			t.Fatalf("used %.2f CPUs: %d processors, want %d", used, n, want)
		}
	}
	step(0.3, 1)  // control-plane bursts: one is enough
	step(0.69, 1) // not yet busy
	step(0.95, 2) // a pull's unpacking fills it: double
	step(1.9, 4)
	step(3.9, 8)
	step(7.9, 8) // no more than the CPUs
	for range 19 {
		step(3.0, 8) // would fit in half of 7: wait
	}
	step(3.6, 8) // more than half of 7: the count starts again
	for range 19 {
		step(0.1, 8)
	}
	step(0.1, 7) // two seconds of little work: one back
	step(0.1, 7)
	step(5.0, 8) // busy again at once: double, capped

	g = governor{procs: 1, most: 1}
	step(5.0, 1) // one CPU: stays one
}
