// Package faststart answers containerd's "start" command for a task whose
// pod already has a shim, before the Go runtime starts.
//
// containerd 1.6 runs the shim binary's start command for every task it
// creates, also when the task's pod has a shim serving already: the
// command then only has to print that shim's address. Done in Go, the
// process pays the Go runtime's start and the package initialisation of a
// binary that also holds libcontainer, ttrpc and containerd's API types,
// about 2.5 ms of every StartContainer. The C constructor here (cgo, like
// libcontainer's nsenter) reads the pod's group from the bundle's
// config.json, derives the socket address as containerd's pkg/shim does
// (sha256 of address/namespace/group under /run/containerd/s), and when a
// shim accepts connections there, writes the bundle's address file and
// prints the address without ever entering Go. Anything unexpected (other
// flags, a debug shim, a path Go would clean differently, no shim
// listening) leaves the command to the Go code in package shim, which
// gives the same answer or starts a new shim.
//
// Import it for its side effect in the shim's main package.
package faststart

// #cgo CFLAGS: -Wall -O2
import "C"
