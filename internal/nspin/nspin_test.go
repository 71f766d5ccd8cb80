package nspin

import (
	"errors"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The main goroutine keeps the main thread (see TestMain).
func init() { goruntime.LockOSThread() }

// mainThreadResult is what TestMain saw when it ran namespace work from
// the main thread; TestThrowAwayThreadIsNeverTheMainThread reports it.
var mainThreadResult error

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		mainThreadResult = unshareFromMainThread()
	}
	os.Exit(m.Run())
}

// unshareFromMainThread runs an unshare through onThrowAwayThread from the
// main thread, the one thread Go parks instead of ending, and checks that
// the process's own UTS namespace did not change.
func unshareFromMainThread() error {
	if unix.Gettid() != os.Getpid() {
		return errors.New("TestMain does not run on the main thread")
	}
	before, _ := os.Readlink("/proc/self/ns/uts")
	var tid int
	var err error
	onThrowAwayThread(func() {
		tid = unix.Gettid()
		err = unix.Unshare(unix.CLONE_NEWUTS)
	})
	if err != nil {
		return err
	}
	after, _ := os.Readlink("/proc/self/ns/uts")
	switch {
	case tid == os.Getpid():
		return errors.New("the work ran on the main thread")
	case before != after:
		return errors.New("the main thread was left in the new UTS namespace")
	case unix.Gettid() != os.Getpid():
		return errors.New("the main goroutine lost the main thread")
	}
	return nil
}

func TestThrowAwayThreadIsNeverTheMainThread(t *testing.T) {
	requireRoot(t)
	if mainThreadResult != nil {
		t.Fatal(mainThreadResult)
	}
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating namespaces needs root")
	}
}

// nsID identifies the namespace behind a /proc ns link or a pin.
func nsID(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestNewPinsFreshNamespacesAndRunsInside(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	uts, ipc := filepath.Join(dir, "uts"), filepath.Join(dir, "ipc")
	host, _ := os.Hostname()
	var seen string
	err := New([]Pin{{UTS, uts}, {IPC, ipc}}, func() error {
		if err := unix.Sethostname([]byte("pinned-test")); err != nil {
			return err
		}
		var u unix.Utsname
		unix.Uname(&u)
		seen = unix.ByteSliceToString(u.Nodename[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(uts); Remove(ipc) })
	if seen != "pinned-test" {
		t.Errorf("inside saw hostname %q", seen)
	}
	if now, _ := os.Hostname(); now != host {
		t.Fatalf("the host's hostname changed to %q", now)
	}
	for _, p := range []struct {
		path string
		kind Kind
	}{{uts, UTS}, {ipc, IPC}} {
		if !Pinned(p.path) {
			t.Errorf("%s is not a pinned namespace", p.path)
		}
		if nsID(t, p.path) == nsID(t, "/proc/self/ns/"+string(p.kind)) {
			t.Errorf("%s pins the host's %s namespace", p.path, p.kind)
		}
	}
	if err := Remove(uts); err != nil {
		t.Fatal(err)
	}
	if err := Remove(uts); err != nil {
		t.Fatalf("a second Remove: %v", err)
	}
	if _, err := os.Stat(uts); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin still there after Remove: %v", err)
	}
}

func TestNewUndoesOnFailure(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	net, uts := filepath.Join(dir, "net"), filepath.Join(dir, "uts")
	boom := errors.New("boom")
	if err := New([]Pin{{Net, net}, {UTS, uts}}, func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("New = %v, want the error from inside", err)
	}
	for _, p := range []string{net, uts} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after a failed New: %v", p, err)
		}
	}
	// A pin that exists is never reused, and is left alone.
	if err := os.WriteFile(uts, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := New([]Pin{{Net, net}, {UTS, uts}}, nil); err == nil {
		t.Fatal("New over an existing pin succeeded")
	}
	if _, err := os.Stat(net); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left after a failed New: %v", net, err)
	}
	if _, err := os.Stat(uts); err != nil {
		t.Errorf("the existing file was removed: %v", err)
	}
}

func TestExistingAndEnter(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	fresh, self := filepath.Join(dir, "fresh"), filepath.Join(dir, "self")
	if err := Existing(Net, uint32(os.Getpid()), self); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(self) })
	if nsID(t, self) != nsID(t, "/proc/self/ns/net") {
		t.Error("Existing pinned another namespace than the process's")
	}
	if err := New([]Pin{{Net, fresh}}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(fresh) })
	// Enter, on a thread New discards, lands in the pinned namespace.
	var inside uint64
	other := filepath.Join(dir, "other")
	err := New([]Pin{{UTS, other}}, func() error {
		if err := Enter(Net, fresh); err != nil {
			return err
		}
		var st unix.Stat_t
		err := unix.Stat("/proc/thread-self/ns/net", &st)
		inside = st.Ino
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(other) })
	if inside != nsID(t, fresh) {
		t.Error("Enter did not move the thread into the pinned namespace")
	}
	if nsID(t, "/proc/self/ns/net") == nsID(t, fresh) {
		t.Error("the process itself moved into the namespace")
	}
}
