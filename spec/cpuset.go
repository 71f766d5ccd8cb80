package spec

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// cpuRange is an inclusive range of CPU or memory node numbers.
type cpuRange struct{ first, last int }

// maxCPUNumber bounds the numbers of a cpuset list: the kernel's largest
// NR_CPUS is 8192; anything above names no CPU and no node.
const maxCPUNumber = 1 << 13

// parseCPUList parses the kernel's list format ("0-3,8,10-11"), which
// cpuset.cpus and cpuset.mems take and kubelet sends.
func parseCPUList(s string) ([]cpuRange, error) {
	var out []cpuRange
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := cpuNumber(lo)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = cpuNumber(hi); err != nil {
				return nil, err
			}
			if last < first {
				return nil, fmt.Errorf("range %q runs backwards", part)
			}
		}
		out = append(out, cpuRange{first, last})
	}
	return out, nil
}

func cpuNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%q is not a CPU or node number", s)
	}
	if n >= maxCPUNumber {
		return 0, fmt.Errorf("%d is above any CPU or node number", n)
	}
	return n, nil
}

// firstMissing returns a number of want that have lacks, or -1.
func firstMissing(want, have []cpuRange) int {
	for _, w := range want {
		for n := w.first; n <= w.last; {
			i := 0
			for i < len(have) && (n < have[i].first || n > have[i].last) {
				i++
			}
			if i == len(have) {
				return n
			}
			n = have[i].last + 1
		}
	}
	return -1
}

// The host's online CPUs and memory nodes; variables so that tests can
// play another host. A kernel without NUMA support has no node directory
// and one memory node, 0.
var (
	onlineCPUs  = func() (string, error) { return readList("/sys/devices/system/cpu/online", "") }
	onlineNodes = func() (string, error) { return readList("/sys/devices/system/node/online", "0") }
)

func readList(path, missing string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && missing != "" {
		return missing, nil
	}
	return strings.TrimSpace(string(b)), err
}

// validateCpuset checks a cpuset_cpus or cpuset_mems value: a well-formed
// list of numbers the host has online. The kernel would refuse anything
// else when the container's cgroup is written, long after the call that
// carried it. An unreadable host list leaves the check to the kernel.
func validateCpuset(value string, online func() (string, error)) error {
	if value == "" {
		return nil
	}
	want, err := parseCPUList(value)
	if err != nil {
		return fmt.Errorf("malformed list: %v", err)
	}
	hostList, err := online()
	if err != nil {
		return nil
	}
	have, err := parseCPUList(hostList)
	if err != nil {
		return nil
	}
	if n := firstMissing(want, have); n >= 0 {
		return fmt.Errorf("%d is not online on this host (online: %s)", n, hostList)
	}
	return nil
}

// quoteShort quotes s for an error message, cut to a readable length: a
// message must not repeat a megabyte of a rejected request.
func quoteShort(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + fmt.Sprintf("...(%d bytes)", len(s))
}
