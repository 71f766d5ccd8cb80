package sandbox

// ForTest returns a sandbox as a Manager would hold it once created, with
// md and status st and no checkpoint: for the unit tests of packages that
// run containers in sandboxes, which cannot create one without containerd.
// Nothing else may call it.
func ForTest(md Metadata, st Status) *Sandbox {
	return &Sandbox{Metadata: md, status: st}
}
