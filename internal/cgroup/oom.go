package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// OOMKills is how many processes of the cgroup at path the kernel's OOM
// killer killed: oom_kill in the memory controller's memory.oom_control
// (cgroup v1) or memory.events (v2). A kernel too old to count (v1 before
// 4.13) reads as 0.
func OOMKills(path string) (uint64, error) { return Host().OOMKills(path) }

// OOMKills is the OOM kill count of the cgroup at path in h.
func (h Hierarchy) OOMKills(path string) (uint64, error) {
	name := "memory.oom_control"
	if h.Unified() {
		name = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(h.Dir("memory", path), name))
	if err != nil {
		return 0, err
	}
	kv, err := parseFlatKeyed(string(b))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return kv["oom_kill"], nil
}

// parseFlatKeyed parses a cgroup file of "key value" lines (the kernel's
// flat keyed format: memory.events, memory.oom_control, cpu.stat).
func parseFlatKeyed(text string) (map[string]uint64, error) {
	kv := map[string]uint64{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %q is not a key and a value", line)
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: the value is not a count", line)
		}
		kv[f[0]] = v
	}
	return kv, nil
}
