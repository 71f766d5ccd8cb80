package testrig

import "github.com/cricket-cri/cricket/internal/sigreset"

// The test process starts containerd, cricketd and kubelet as a service
// manager would: without the signals its own starter ignored (GNU make
// ignores the C library's signals 32 and 33; a shell's background job
// ignores SIGINT and SIGQUIT), which would otherwise reach every
// container ignored through containerd and runc's shim.
func init() { sigreset.Inherited() }
