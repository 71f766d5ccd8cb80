// Package cgroup is where cricket finds cgroups: which hierarchy the host
// has (cgroup v1, hybrid or unified v2), where a cgroup's directory is for
// a controller, and what the kernel says in it (its processes, whether it
// is empty, how many OOM kills it saw, its metrics). cricketd, cricket's
// shim and the test rig all ask here, so that no caller builds a
// /sys/fs/cgroup path or branches on the mode itself.
//
// Cgroup paths are cgroupfs paths relative to a hierarchy's root
// ("/kubepods/pod1/<id>"), the same in every hierarchy of the host.
//
// The package-level functions use the host's hierarchy (Host); a
// Hierarchy of another root (a directory a unit test fills) answers the
// same questions about that tree.
package cgroup
