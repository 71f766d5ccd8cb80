// Package testrig is cricket's integration test harness: a real containerd
// started with temporary root, state and socket; an OCI registry served over
// HTTP on 127.0.0.1 with images built from Debian's busybox-static; and
// cricketd itself, run as a separate process (the test binary re-executed)
// and reached only through the CRI gRPC API.
package testrig

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/containerdproc"
	"github.com/cricket-cri/cricket/daemon"
	"github.com/cricket-cri/cricket/internal/mounts"
)

const daemonEnv = "CRICKET_TESTRIG_DAEMON"

// RunMain is the TestMain of integration test packages. When the test
// binary is re-executed as cricketd it runs the daemon instead of the tests.
// After the tests it stops the shared containerd and removes its files.
func RunMain(m *testing.M, cleanups ...func()) {
	if os.Getenv(daemonEnv) == "1" {
		os.Exit(daemon.Main(os.Args[1:], os.Stderr))
	}
	code := m.Run()
	stopShared()
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}

var shared struct {
	once sync.Once
	sup  *containerdproc.Supervisor
	dir  string
	err  error
}

// Containerd returns the address of the containerd shared by the tests of
// this binary, starting it on first use.
func Containerd(tb testing.TB) string {
	tb.Helper()
	requirePrivileges(tb)
	shared.once.Do(func() {
		// Before containerd starts: it finds shims in its PATH.
		if shared.err = provideShim(); shared.err != nil {
			return
		}
		shared.dir, shared.err = os.MkdirTemp("", "ck-ctrd-")
		if shared.err != nil {
			return
		}
		// Searchable by all, like /var/lib and /run: processes of pods in
		// user namespaces run as unprivileged host users and must reach
		// their rootfs below it.
		if shared.err = os.Chmod(shared.dir, 0o711); shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.sup, shared.err = containerdproc.Start(ctx, containerdproc.Options{
			Layout: containerdproc.Layout{Root: filepath.Join(shared.dir, "root"), State: filepath.Join(shared.dir, "state")},
			Log:    slog.New(slog.DiscardHandler),
		})
	})
	if shared.err != nil {
		tb.Fatalf("start containerd: %v", shared.err)
	}
	return shared.sup.Address()
}

func stopShared() {
	if shared.sup != nil {
		shared.sup.Stop(20 * time.Second)
	}
	if shared.dir != "" {
		mounts.UnmountUnder(shared.dir)
		os.RemoveAll(shared.dir)
	}
}

// requirePrivileges fails (never skips) when the machine cannot run the
// integration tests: a skipped test would pass CI without testing anything.
func requirePrivileges(tb testing.TB) {
	tb.Helper()
	if os.Getenv("CRICKET_SKIP_INTEGRATION") == "1" {
		tb.Skip("CRICKET_SKIP_INTEGRATION=1")
	}
	if os.Geteuid() != 0 {
		tb.Fatal("integration tests run containers and need root (set CRICKET_SKIP_INTEGRATION=1 to skip them)")
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Fatalf("integration tests need %s: apt-get install -y containerd runc", bin)
		}
	}
}

// purgeNamespace deletes everything cricketd left in a containerd namespace
// (tasks, containers, images, leases) and the namespace itself, so tests do
// not pile up state in the shared containerd.
func purgeNamespace(address, ns string) error {
	c, err := client.New(address, client.WithDefaultNamespace(ns))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctrs, err := c.Containers(ctx)
	if err != nil {
		return err
	}
	for _, ctr := range ctrs {
		if task, err := ctr.Task(ctx, nil); err == nil {
			task.Kill(ctx, unix.SIGKILL)
			if ch, err := task.Wait(ctx); err == nil {
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
				}
			}
			task.Delete(ctx, client.WithProcessKill)
		}
		if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete container %s: %w", ctr.ID(), err)
		}
	}
	is := c.ImageService()
	imgs, err := is.List(ctx)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		is.Delete(ctx, img.Name, images.SynchronousDelete())
	}
	ls, err := c.LeasesService().List(ctx)
	if err != nil {
		return err
	}
	for _, l := range ls {
		c.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
	}
	// Snapshots and content go with the namespace's garbage collection;
	// deleting the namespace fails while anything is left, which is the
	// signal that something leaked.
	if err := c.NamespaceService().Delete(ctx, ns); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// PrivateContainerd is a containerd of one test's own, for tests that
// restart or break it.
type PrivateContainerd struct {
	Dir     string
	Address string
	sup     *containerdproc.Supervisor
	tb      testing.TB
}

// StartPrivateContainerd starts a containerd for this test only (stopped
// at its end).
func StartPrivateContainerd(tb testing.TB) *PrivateContainerd {
	tb.Helper()
	requirePrivileges(tb)
	dir, err := os.MkdirTemp("", "ck-pctrd-")
	if err != nil {
		tb.Fatal(err)
	}
	os.Chmod(dir, 0o711)
	if err := provideShim(); err != nil {
		tb.Fatal(err)
	}
	p := &PrivateContainerd{Dir: dir, tb: tb}
	p.Start()
	tb.Cleanup(func() {
		if p.sup == nil {
			p.Start() // purging needs the daemon
		}
		p.purgeAll()
		p.Stop()
		mounts.UnmountUnder(dir)
		os.RemoveAll(dir)
	})
	return p
}

// purgeAll deletes every namespace's containers, tasks and images.
func (p *PrivateContainerd) purgeAll() {
	c, err := client.New(p.Address)
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nss, _ := c.NamespaceService().List(ctx)
	for _, ns := range nss {
		if err := purgeNamespace(p.Address, ns); err != nil {
			p.tb.Errorf("purge namespace %s of the private containerd: %v", ns, err)
		}
	}
}

func (p *PrivateContainerd) layout() containerdproc.Layout {
	return containerdproc.Layout{Root: filepath.Join(p.Dir, "root"), State: filepath.Join(p.Dir, "state")}
}

// Start starts (or restarts) the daemon and waits for it to serve.
func (p *PrivateContainerd) Start() {
	p.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sup, err := containerdproc.Start(ctx, containerdproc.Options{Layout: p.layout(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		p.tb.Fatalf("start private containerd: %v", err)
	}
	p.sup, p.Address = sup, sup.Address()
}

// Stop stops the daemon (containers and shims keep running).
func (p *PrivateContainerd) Stop() {
	if p.sup != nil {
		p.sup.Stop(20 * time.Second)
		p.sup = nil
	}
}

// PID is the daemon's process ID (its supervisor restarts it if killed).
func (p *PrivateContainerd) PID() int { return p.sup.PID() }

// Restarts counts how often the supervisor restarted a dead daemon.
func (p *PrivateContainerd) Restarts() int { return p.sup.Restarts() }

// StateDir is containerd's volatile state (lost in a reboot).
func (p *PrivateContainerd) StateDir() string { return filepath.Join(p.layout().State, "run") }
