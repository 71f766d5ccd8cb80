package sandbox

// ForTest returns a sandbox as a Manager would hold it once created, with
// md and status st and no checkpoint: for the unit tests of packages that
// run containers in sandboxes, which cannot create one without containerd.
// Nothing else may call it.
func ForTest(md Metadata, st Status) *Sandbox {
	return &Sandbox{Metadata: md, status: st}
}

// StopForTest marks a sandbox made by ForTest as StopPodSandbox does when
// it begins: not ready, stopping. Nothing else may call it.
func (s *Sandbox) StopForTest() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping, s.status.State = true, StateNotReady
}
