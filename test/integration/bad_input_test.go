package integration

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// TestLogHardLinkGetsItsOwnFile: a hard link placed at a container's log
// path, to a file outside the log directory, never receives the
// container's output, at StartContainer or at ReopenContainerLog: the
// name gets a new file of its own, and the linked file stays as it was.
func TestLogHardLinkGetsItsOwnFile(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	img := busybox(t, d)
	podID, pod := podWithLogs(t, d, "hardlink")
	outside := t.TempDir() // the same file system as the log directory: /tmp
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkVictim := func(logPath string) {
		t.Helper()
		if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
			t.Fatalf("the linked file outside the log directory now holds %q", b)
		}
		var v, l syscall.Stat_t
		if err := syscall.Stat(victim, &v); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Stat(logPath, &l); err != nil {
			t.Fatal(err)
		}
		if v.Ino == l.Ino || v.Nlink != 1 || l.Nlink != 1 {
			t.Fatalf("log inode %d (%d links), linked file inode %d (%d links): want two files of one name each", l.Ino, l.Nlink, v.Ino, v.Nlink)
		}
	}

	cfg := ctrConfig("linked", img, "sh", "-c", "i=0; while :; do echo line$i; i=$((i+1)); sleep 0.1; done")
	cfg.LogPath = "linked/0.log"
	id := createContainer(t, d, podID, pod, cfg)
	logPath := filepath.Join(pod.LogDirectory, cfg.LogPath)
	if err := os.Mkdir(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, logPath); err != nil {
		t.Fatal(err)
	}
	startContainer(t, d, id)
	waitFor(t, 30*time.Second, "output in the container's log file", func() bool { return len(logLines(t, logPath)) >= 3 })
	if lines := logLines(t, logPath); lines[0] != "stdout: line0" {
		t.Fatalf("log starts with %q", lines[0])
	}
	checkVictim(logPath)

	// Rotation as kubelet does it, with a link put in the new file's place.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, logPath); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Runtime.ReopenContainerLog(d.Ctx(), &runtime.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "output in the reopened log file", func() bool { return len(logLines(t, logPath)) >= 3 })
	checkVictim(logPath)
}
