package nri

import (
	"errors"
	"sync"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
)

// blame remembers which plugin failed with which error. The library
// names plugins in the errors it makes (conflicting adjustments, a
// plugin that did not answer under a fail_request policy, a validator's
// rejection) but hands on an error a plugin returned as it came, without
// the plugin's name; it does report every invocation, with the plugin and
// the error, through its metrics interface, which this implements.
type blame struct {
	mu     sync.Mutex
	recent [16]failure // a ring: the newest at next-1
	next   int
}

type failure struct {
	err    error
	plugin string
}

var _ adaptation.Metrics = (*blame)(nil)

// RecordPluginInvocation remembers a failed invocation.
func (b *blame) RecordPluginInvocation(plugin, _ string, err error) {
	if err == nil {
		return
	}
	b.mu.Lock()
	b.recent[b.next%len(b.recent)] = failure{err, plugin}
	b.next++
	b.mu.Unlock()
}

// plugin returns the plugin that failed with err (or an error err wraps),
// or "" when none of the recent failures is err.
func (b *blame) plugin(err error) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := 1; i <= len(b.recent); i++ {
		f := b.recent[(b.next-i+2*len(b.recent))%len(b.recent)]
		if f.err != nil && errors.Is(err, f.err) {
			return f.plugin
		}
	}
	return ""
}

func (*blame) RecordPluginLatency(string, string, time.Duration) {}
func (*blame) RecordPluginAdjustments(string, string, *adaptation.ContainerAdjustment, int, int) {
}
func (*blame) UpdatePluginCount(int) {}
