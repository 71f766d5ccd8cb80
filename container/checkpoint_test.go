package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/checkpoint"
)

// oldCheckpoint is a checkpoint as cricketd wrote it when the record
// listed every field by hand (and a second one without resources).
const oldCheckpoint = `{"ID":"c1","SandboxID":"p1","Config":"CgUKAW4QAQ==","CreatedAt":"2026-01-02T03:04:05.000000006Z","ImageID":"sha256:aa","ImageName":"busybox:1","ImageRef":"busybox@sha256:bb","LogDir":"/l","LogPath":"/l/x.log","Dir":"/d","User":{"uid":1,"gid":2,"additionalGids":[3]},"StopSignal":"SIGTERM","NameKey":"n_1_p","CgroupPath":"/cg","Creating":false,"State":2,"PID":42,"StartedAt":"2026-01-02T03:04:05.000000006Z","FinishedAt":"2026-01-02T03:04:06.000000006Z","ExitCode":137,"Reason":"OOMKilled","Message":"m","OOMKilled":true,"Resources":"GIAE"}`

const oldCheckpointNoResources = `{"ID":"c1","SandboxID":"p1","Config":"CgUKAW4QAQ==","CreatedAt":"2026-01-02T03:04:05.000000006Z","ImageID":"sha256:aa","ImageName":"busybox:1","ImageRef":"busybox@sha256:bb","LogDir":"/l","LogPath":"/l/x.log","Dir":"/d","User":{"uid":1,"gid":2,"additionalGids":[3]},"StopSignal":"SIGTERM","NameKey":"n_1_p","CgroupPath":"/cg","Creating":true,"State":0,"PID":0,"StartedAt":"0001-01-01T00:00:00Z","FinishedAt":"0001-01-01T00:00:00Z","ExitCode":0,"Reason":"","Message":"","OOMKilled":false,"Resources":null}`

func readRecord(t *testing.T, path string) *Container {
	t.Helper()
	var rec record
	if err := checkpoint.Read(path, &rec); err != nil {
		t.Fatal(err)
	}
	c, err := rec.container(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A checkpoint of the old format reads back whole, and the container
// writes it again field for field.
func TestCheckpointFormatIsKept(t *testing.T) {
	for _, old := range []string{oldCheckpoint, oldCheckpointNoResources} {
		path := filepath.Join(t.TempDir(), "c1.json")
		if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		c := readRecord(t, path)
		at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		wantMeta := Metadata{ID: "c1", SandboxID: "p1", Config: c.Config, CreatedAt: at, ImageID: "sha256:aa", ImageName: "busybox:1",
			ImageRef: "busybox@sha256:bb", LogDir: "/l", LogPath: "/l/x.log", Dir: "/d",
			User: specs.User{UID: 1, GID: 2, AdditionalGids: []uint32{3}}, StopSignal: "SIGTERM", NameKey: "n_1_p", CgroupPath: "/cg"}
		if !reflect.DeepEqual(c.Metadata, wantMeta) {
			t.Errorf("metadata %+v, want %+v", c.Metadata, wantMeta)
		}
		if md := c.Config.GetMetadata(); md.GetName() != "n" || md.GetAttempt() != 1 {
			t.Errorf("config %v", c.Config)
		}
		st := c.Status()
		if old == oldCheckpoint {
			if st.Creating || st.State != StateExited || st.PID != 42 || !st.StartedAt.Equal(at) || !st.FinishedAt.Equal(at.Add(time.Second)) ||
				st.ExitCode != 137 || st.Reason != ReasonOOMKilled || st.Message != "m" || !st.OOMKilled || st.Resources.GetCpuShares() != 512 {
				t.Errorf("status %+v", st)
			}
			select {
			case <-c.exited:
			default:
				t.Error("an exited container's exited channel is open")
			}
		} else if !st.Creating || st.State != StateCreated || st.Resources != nil {
			t.Errorf("status %+v", st)
		}

		// Written again (a change that changes nothing), it is the same JSON.
		if err := c.update(checkpoint.Requested, nil); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		if err := json.Unmarshal([]byte(old), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("rewritten checkpoint differs:\nold %s\nnew %s", old, got)
		}
	}
}

func newTestContainer(t *testing.T) *Container {
	return &Container{
		Metadata: Metadata{ID: "c1", Config: &runtime.ContainerConfig{Metadata: &runtime.ContainerMetadata{Name: "n"}}},
		file:     checkpoint.File{Path: filepath.Join(t.TempDir(), "c1.json")},
		exited:   make(chan struct{}),
	}
}

// A change whose checkpoint cannot be written leaves the status as it was
// when it was asked for, and follows it when it happened; either way the
// error is returned.
func TestUpdateThatCannotBeWritten(t *testing.T) {
	c := newTestContainer(t)
	if err := c.update(checkpoint.Requested, func(s *Status) bool { s.State = StateRunning; return true }); err != nil {
		t.Fatal(err)
	}
	// A file where the checkpoint's directory should be: no write succeeds.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c.file.Path = filepath.Join(blocker, "c1.json")

	res := &runtime.LinuxContainerResources{CpuShares: 2}
	if err := c.update(checkpoint.Requested, func(s *Status) bool { s.Resources = res; return true }); err == nil {
		t.Fatal("a write into a file succeeded")
	}
	if st := c.Status(); st.Resources != nil || st.State != StateRunning {
		t.Fatalf("a change that was not written shows: %+v", st)
	}

	err := c.update(checkpoint.Happened, func(s *Status) bool { s.State, s.ExitCode = StateExited, 3; return true })
	if err == nil {
		t.Fatal("a write into a file succeeded")
	}
	if st := c.Status(); st.State != StateExited || st.ExitCode != 3 {
		t.Fatalf("an exit that happened does not show: %+v", st)
	}
	select {
	case <-c.exited:
	default:
		t.Fatal("exited is open after the exit")
	}
}

// A removed checkpoint stays removed: a late change (an exit) is kept in
// memory only.
func TestUpdateAfterRemoval(t *testing.T) {
	c := newTestContainer(t)
	if err := c.update(checkpoint.Requested, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.removeCheckpoint(); err != nil {
		t.Fatal(err)
	}
	if err := c.update(checkpoint.Happened, func(s *Status) bool { s.State = StateExited; return true }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.file.Path); !os.IsNotExist(err) {
		t.Fatalf("checkpoint back after its removal: %v", err)
	}
	if c.Status().State != StateExited {
		t.Fatal("the change is lost")
	}
}

// Concurrent updates are applied one after the other, each to the status
// the last left, and the checkpoint holds the last one.
func TestConcurrentUpdatesSerialize(t *testing.T) {
	c := newTestContainer(t)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		how := checkpoint.Requested
		if i%2 == 1 {
			how = checkpoint.Happened
		}
		wg.Go(func() {
			if err := c.update(how, func(s *Status) bool { s.ExitCode++; return true }); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() { _ = c.Status() })
	}
	wg.Wait()
	if got := c.Status().ExitCode; got != n {
		t.Fatalf("ExitCode %d after %d increments", got, n)
	}
	if got := readRecord(t, c.file.Path).Status().ExitCode; got != n {
		t.Fatalf("checkpoint holds ExitCode %d, want %d", got, n)
	}
}
