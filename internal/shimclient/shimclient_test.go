package shimclient

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/ttrpc"
)

// fakeShim answers Connect the way a shim does; any other call would
// panic on the nil embedded interface, which the test does not make.
type fakeShim struct {
	taskapi.TTRPCTaskService
}

func (fakeShim) Connect(_ context.Context, r *taskapi.ConnectRequest) (*taskapi.ConnectResponse, error) {
	return &taskapi.ConnectResponse{ShimPid: 4242, Version: r.ID}, nil
}

func TestDialReachesTheShimAtItsAddress(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "shim.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	taskapi.RegisterTTRPCTaskService(srv, fakeShim{})
	go srv.Serve(context.Background(), l)
	t.Cleanup(func() { srv.Close() })

	c, shim, err := Dial("unix://"+sock, time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := shim.Connect(ctx, &taskapi.ConnectRequest{ID: "pod"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if r.ShimPid != 4242 || r.Version != "pod" {
		t.Errorf("connect answered %+v", r)
	}
}

func TestDialFailsWhereNoShimListens(t *testing.T) {
	if _, _, err := Dial(filepath.Join(t.TempDir(), "gone.sock"), time.Second); err == nil {
		t.Error("dialing a socket that does not exist succeeded")
	}
}
