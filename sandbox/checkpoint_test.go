package sandbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/checkpoint"
)

// Checkpoints as cricketd wrote them when the record listed every field by
// hand: a full one, and one with the optional fields left out.
const (
	oldCheckpoint        = `{"ID":"p1","Config":"CgoKAW4SAXUaAm5z","RuntimeHandler":"runc","CreatedAt":"2026-01-02T03:04:05.000000006Z","NetNSPath":"/n","CgroupParent":"/cp","Dir":"/d","Image":"sha256:aa","Pinned":true,"ShimAddress":"unix:///s","Runtime":{"Type":"io.containerd.runc.v2","SystemdCgroup":true},"Creating":true,"State":1,"PID":7,"IP":"10.0.0.2","AdditionalIPs":["fd00::2"],"CNIResult":{"a":1},"NetAttached":true,"ExitedAt":"2026-01-02T03:04:05.000000006Z","Overhead":"GAI=","Resources":"GAM="}`
	oldCheckpointMinimal = `{"ID":"p2","Config":"","RuntimeHandler":"","CreatedAt":"2026-01-02T03:04:05.000000006Z","NetNSPath":"","CgroupParent":"","Dir":"","Image":"","Creating":false,"State":0,"PID":0,"IP":"","AdditionalIPs":null,"CNIResult":null,"NetAttached":false,"ExitedAt":"0001-01-01T00:00:00Z"}`
)

func readRecord(t *testing.T, path string) *Sandbox {
	t.Helper()
	var rec record
	if err := checkpoint.Read(path, &rec); err != nil {
		t.Fatal(err)
	}
	sb, err := rec.sandbox(path)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// A checkpoint of the old format reads back whole, and the sandbox writes
// it again field for field.
func TestCheckpointFormatIsKept(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, old := range []string{oldCheckpoint, oldCheckpointMinimal} {
		path := filepath.Join(t.TempDir(), "p.json")
		if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		sb := readRecord(t, path)
		st := sb.Status()
		if old == oldCheckpoint {
			if sb.ID != "p1" || sb.Config.GetMetadata().GetNamespace() != "ns" || sb.RuntimeHandler != "runc" || !sb.CreatedAt.Equal(at) ||
				sb.NetNSPath != "/n" || sb.CgroupParent != "/cp" || sb.Dir != "/d" || sb.Image != "sha256:aa" || !sb.Pinned ||
				sb.ShimAddress != "unix:///s" || sb.Runtime.Type != "io.containerd.runc.v2" || !sb.Runtime.Options.GetSystemdCgroup() {
				t.Errorf("metadata %+v", sb.Metadata)
			}
			if !st.Creating || st.State != StateReady || st.PID != 7 || st.IP != "10.0.0.2" || !reflect.DeepEqual(st.AdditionalIPs, []string{"fd00::2"}) ||
				string(st.CNIResult) != `{"a":1}` || !st.NetAttached || !st.ExitedAt.Equal(at) ||
				st.Overhead.GetCpuShares() != 2 || st.Resources.GetCpuShares() != 3 {
				t.Errorf("status %+v", st)
			}
		} else if sb.ID != "p2" || st.State != StateNotReady || st.Overhead != nil || st.Resources != nil || sb.Runtime.Type != "" {
			t.Errorf("%+v %+v", sb.Metadata, st)
		}

		if err := sb.update(checkpoint.Requested, nil); err != nil {
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

// A requested change whose checkpoint cannot be written leaves the status
// as it was; concurrent changes apply one after the other.
func TestUpdate(t *testing.T) {
	sb := &Sandbox{Metadata: Metadata{ID: "p1", Config: &runtime.PodSandboxConfig{}}, file: checkpoint.File{Path: filepath.Join(t.TempDir(), "p1.json")}}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := sb.update(checkpoint.Requested, func(s *Status) bool { s.PID++; return true }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if sb.Status().PID != 20 || readRecord(t, sb.file.Path).Status().PID != 20 {
		t.Fatalf("PID %d in memory, %d in the checkpoint; want 20", sb.Status().PID, readRecord(t, sb.file.Path).Status().PID)
	}

	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sb.file.Path = filepath.Join(blocker, "p1.json")
	if err := sb.update(checkpoint.Requested, func(s *Status) bool { s.Overhead = &runtime.LinuxContainerResources{}; return true }); err == nil {
		t.Fatal("a write into a file succeeded")
	}
	if st := sb.Status(); st.Overhead != nil || st.PID != 20 {
		t.Fatalf("a change that was not written shows: %+v", st)
	}
}
