package containerdproc

import (
	"context"
	"os"
	"os/exec"
	goruntime "runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

// The main goroutine keeps the main thread (which Go never ends), so that
// the goroutines below run on threads that can end.
func init() { goruntime.LockOSThread() }

// TestDaemonSurvivesExitingLockedThreads: the managed containerd gets
// Pdeathsig, which the kernel sends when the forking *thread* exits, not
// only the process. Go ends a thread whenever a goroutine exits locked to
// it, as cricketd's namespace helpers do per pod; that must never stop
// containerd.
func TestDaemonSurvivesExitingLockedThreads(t *testing.T) {
	if os.Getenv("CRICKET_SKIP_INTEGRATION") == "1" || os.Geteuid() != 0 {
		t.Skip("needs root and containerd")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("no containerd")
	}
	dir := t.TempDir()
	var s *Supervisor
	var err error
	// The supervisor starts from a goroutine that then exits locked, so
	// the thread it ran on ends: the case of a thread that forked
	// containerd and later ran a namespace helper.
	started := make(chan struct{})
	go func() {
		defer close(started)
		goruntime.LockOSThread()
		s, err = Start(context.Background(), Options{Layout: Layout{Root: dir + "/root", State: dir + "/state"}})
	}()
	<-started
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(10 * time.Second)
	pid := s.PID()
	deadline := time.Now().Add(2 * time.Second) // for a signal, if any, to land
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err != nil || s.Restarts() != 0 {
			t.Fatalf("containerd (pid %d) was stopped when a thread of its supervisor ended (restarts %d)", pid, s.Restarts())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPrependPath: the managed containerd looks for shims in the given
// directories first (cricket's shim next to cricketd), then in cricketd's
// PATH; nothing else in the environment changes.
func TestPrependPath(t *testing.T) {
	for _, tc := range []struct{ env, dirs, want []string }{
		{[]string{"HOME=/root", "PATH=/usr/bin:/bin"}, []string{"/opt/cricket"}, []string{"HOME=/root", "PATH=/opt/cricket:/usr/bin:/bin"}},
		{[]string{"HOME=/root"}, []string{"/a", "/b"}, []string{"HOME=/root", "PATH=/a:/b"}},
		{[]string{"PATH="}, []string{"/a"}, []string{"PATH=/a"}},
		{[]string{"PATH=/x"}, nil, []string{"PATH=/x"}},
	} {
		if got := prependPath(tc.env, tc.dirs); !slices.Equal(got, tc.want) {
			t.Errorf("prependPath(%q, %q) = %q, want %q", tc.env, tc.dirs, got, tc.want)
		}
	}
}
