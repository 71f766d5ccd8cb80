package events

import (
	"context"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type recorder struct {
	exits []Exit
	ooms  []string
}

func (r *recorder) HandleExit(e Exit)      { r.exits = append(r.exits, e) }
func (r *recorder) HandleOOM(id string)    { r.ooms = append(r.ooms, id) }
func (r *recorder) Resync(context.Context) {}

// images counts catalog invalidations.
type images struct{ invalidated int }

func (*images) Watched(bool)         {}
func (i *images) InvalidateCatalog() { i.invalidated++ }

func TestDispatch(t *testing.T) {
	at := time.Unix(1700000000, 0).UTC()
	var a, b recorder
	var imgs images
	dispatch(&apievents.TaskExit{ContainerID: "c", ID: "c", Pid: 7, ExitStatus: 3, ExitedAt: timestamppb.New(at)}, &imgs, []Handler{&a, &b})
	dispatch(&apievents.TaskDelete{ContainerID: "c", Pid: 7, ExitStatus: 3, ExitedAt: timestamppb.New(at)}, &imgs, []Handler{&a, &b})
	dispatch(&apievents.TaskOOM{ContainerID: "c"}, &imgs, []Handler{&a, &b})
	dispatch(&apievents.TaskCreate{ContainerID: "c"}, &imgs, []Handler{&a, &b})
	dispatch(&apievents.ImageDelete{Name: "busybox"}, &imgs, []Handler{&a, &b})
	if imgs.invalidated != 1 {
		t.Errorf("catalog invalidated %d times by one image event, want once", imgs.invalidated)
	}
	for _, r := range []recorder{a, b} {
		want := []Exit{
			{ContainerID: "c", ExecID: "c", PID: 7, Status: 3, At: at},
			{ContainerID: "c", PID: 7, Status: 3, At: at, Deleted: true},
		}
		if len(r.exits) != 2 || r.exits[0] != want[0] || r.exits[1] != want[1] {
			t.Errorf("exits = %+v, want %+v", r.exits, want)
		}
		if len(r.ooms) != 1 || r.ooms[0] != "c" {
			t.Errorf("ooms = %v", r.ooms)
		}
	}
}
