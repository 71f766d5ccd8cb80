// Package shim is cricket's containerd shim: a containerd runtime v2 shim
// (runtime type io.containerd.cricket.v1) serving containerd's task API
// over ttrpc, that creates and runs containers in-process with runc's
// libcontainer instead of executing the runc binary for every operation.
//
// One shim serves every container of a pod: containerd runs the shim's
// "start" command for each new task, and the command answers with the
// address of the pod's running shim when there is one (the pod's group
// annotation names it), or starts one. The shim binary is also the init
// of the containers it creates: libcontainer re-executes it as "init"
// (see InitContainer), and its nsenter constructor (cgo) joins the
// namespaces before the Go runtime starts.
//
// The protocol with containerd is the one containerd 1.6 and 1.7 speak:
// "start" prints the shim's address, "delete" cleans up after a shim that
// died and prints a DeleteResponse, and the serving process receives its
// listening socket as file descriptor 3 and publishes events to
// containerd's ttrpc address (TTRPC_ADDRESS).
package shim
