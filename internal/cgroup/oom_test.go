package cgroup

import (
	"testing"

	"github.com/containerd/cgroups/v3"
)

func TestOOMKills(t *testing.T) {
	v1 := Hierarchy{Mode: cgroups.Legacy, Root: fakeTree(t, nil, map[string]string{
		"memory/p/killed/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
		"memory/p/calm/memory.oom_control":   "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
		"memory/p/old/memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\n", // before 4.13
		"memory/p/bad/memory.oom_control":    "oom_kill lots\n",
	})}
	v2 := Hierarchy{Mode: cgroups.Unified, Root: fakeTree(t, nil, map[string]string{
		"p/killed/memory.events": "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\noom_group_kill 0\n",
		"p/calm/memory.events":   "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
		"p/old/memory.events":    "low 0\nhigh 0\nmax 0\noom 0\n",
		"p/bad/memory.events":    "oom_kill\n",
	})}
	for _, h := range []Hierarchy{v1, v2} {
		for path, want := range map[string]uint64{"/p/killed": 2, "/p/calm": 0, "/p/old": 0} {
			if got, err := h.OOMKills(path); err != nil || got != want {
				t.Errorf("mode %d: OOMKills(%s) = %d, %v, want %d", h.Mode, path, got, err, want)
			}
		}
		for _, path := range []string{"/p/bad", "/p/gone"} {
			if got, err := h.OOMKills(path); err == nil {
				t.Errorf("mode %d: OOMKills(%s) = %d, want an error", h.Mode, path, got)
			}
		}
	}
}
