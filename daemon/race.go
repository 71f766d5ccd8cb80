//go:build race

package daemon

import "github.com/sasha-s/go-deadlock"

// go-cni swaps its mutexes for go-deadlock's in race-detector builds. Its
// detector identifies goroutines through runtime internals that do not
// match this Go version: concurrent CNI calls look like one goroutine
// locking twice, and it exits the process. The race detector itself stays
// on; only that second checker is turned off.
func init() { deadlock.Opts.Disable = true }
