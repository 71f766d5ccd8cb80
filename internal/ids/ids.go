// Package ids makes the IDs of pods, containers and execs.
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a new random ID: 32 bytes in hex, as containerd's CRI plugin
// and CRI-O make them (kubelet and crictl accept any unique prefix).
func New() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
