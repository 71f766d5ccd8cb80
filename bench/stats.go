package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// samples are the durations measured for one operation on one endpoint.
type samples []time.Duration

func (s samples) percentile(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(p*float64(len(c)-1) + 0.5)
	return c[i]
}

func (s samples) median() time.Duration { return s.percentile(0.5) }

func (s samples) mean() time.Duration {
	if len(s) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return sum / time.Duration(len(s))
}

// result holds every endpoint's samples per operation, in the order the
// operations were first seen.
type result struct {
	mu   sync.Mutex
	ops  []string
	data map[string]map[string]samples // op -> endpoint name -> samples
}

func newResult() *result { return &result{data: map[string]map[string]samples{}} }

func (r *result) add(endpoint, op string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data[op] == nil {
		r.data[op] = map[string]samples{}
		r.ops = append(r.ops, op)
	}
	r.data[op][endpoint] = append(r.data[op][endpoint], d)
}

// printHead writes a table's heading: title, a column per endpoint (its
// name and what, width wide) and, with two endpoints, their ratio.
func printHead(w io.Writer, title string, endpoints []string, what string, width int) {
	head := fmt.Sprintf("%-26s", title)
	for _, e := range endpoints {
		head += fmt.Sprintf(" | %-*s", width, e+what)
	}
	if len(endpoints) == 2 {
		head += fmt.Sprintf(" | %s/%s", endpoints[0], endpoints[1])
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, strings.Repeat("-", len(head)))
}

// print writes the table: median, p90, p99 per endpoint and, with two
// endpoints, the ratio of the medians (first/second).
func (r *result) print(w io.Writer, endpoints []string) {
	printHead(w, "operation", endpoints, " median/p90/p99", 30)
	for _, op := range r.ops {
		line := fmt.Sprintf("%-26s", op)
		for _, e := range endpoints {
			s := r.data[op][e]
			line += fmt.Sprintf(" | %-30s", fmt.Sprintf("%s / %s / %s (n=%d)", ms(s.median()), ms(s.percentile(0.9)), ms(s.percentile(0.99)), len(s)))
		}
		if len(endpoints) == 2 {
			a, b := r.data[op][endpoints[0]].median(), r.data[op][endpoints[1]].median()
			if b > 0 {
				line += fmt.Sprintf(" | %.2f", float64(a)/float64(b))
			}
		}
		fmt.Fprintln(w, line)
	}
}

// printMeans writes a table of the means per endpoint and, with two
// endpoints, their ratio (first/second), with a total row.
func (r *result) printMeans(w io.Writer, title string, endpoints []string) {
	printHead(w, title, endpoints, " mean", 12)
	total := make([]time.Duration, len(endpoints))
	row := func(name string, v []time.Duration) {
		line := fmt.Sprintf("%-26s", name)
		for _, d := range v {
			line += fmt.Sprintf(" | %-12s", ms(d))
		}
		if len(v) == 2 && v[1] > 0 {
			line += fmt.Sprintf(" | %.2f", float64(v[0])/float64(v[1]))
		}
		fmt.Fprintln(w, line)
	}
	for _, op := range r.ops {
		v := make([]time.Duration, len(endpoints))
		for i, e := range endpoints {
			v[i] = r.data[op][e].mean()
			total[i] += v[i]
		}
		row(op, v)
	}
	row("total", total)
}

// ratio is the median of endpoint a over endpoint b for op.
func (r *result) ratio(op, a, b string) float64 {
	x, y := r.data[op][a].median(), r.data[op][b].median()
	if y == 0 {
		return 0
	}
	return float64(x) / float64(y)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
