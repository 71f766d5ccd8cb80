package config

import "sync/atomic"

// Live is the running configuration, which a reload (SIGHUP) replaces as a
// whole. Whoever reads a value that can change at run time (see
// ReloadableKeys) reads it through Get at the time of use, never from a
// copy taken at start-up: a swap is then seen by every later call, and a
// call sees one consistent configuration, never half of an old and half
// of a new one.
//
// A Config handed to Live, and every map and slice it holds, is never
// modified afterwards: concurrent readers share it without a lock.
type Live struct{ p atomic.Pointer[Config] }

// NewLive returns a Live holding cfg.
func NewLive(cfg *Config) *Live {
	l := &Live{}
	l.p.Store(cfg)
	return l
}

// Get returns the running configuration. Callers must not modify it.
func (l *Live) Get() *Config { return l.p.Load() }

// Swap makes next the running configuration and returns the previous one.
func (l *Live) Swap(next *Config) *Config { return l.p.Swap(next) }
