package testhold

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHoldProtocol(t *testing.T) {
	old := dir
	dir = t.TempDir()
	t.Cleanup(func() { dir = old })
	ctx := context.Background()

	// Not armed: no hold.
	done := make(chan struct{})
	go func() { At(ctx, "RunPodSandbox"); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("an unarmed point held the call")
	}

	// Armed: the first call is held until the arrival file goes; the
	// second passes.
	armed := filepath.Join(dir, "RunPodSandbox")
	if err := os.WriteFile(armed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	go func() { At(ctx, "RunPodSandbox"); close(held) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(armed + ".arrived"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call did not arrive")
		}
	}
	At(ctx, "RunPodSandbox") // once per arming
	select {
	case <-held:
		t.Fatal("released before the test released it")
	case <-time.After(50 * time.Millisecond):
	}
	os.Remove(armed + ".arrived")
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("not released")
	}

	// A held call goes on when its context ends.
	if err := os.WriteFile(armed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	At(cctx, "RunPodSandbox")
	if cctx.Err() == nil {
		t.Fatal("returned before its context ended")
	}
}

func TestOffCostsNothing(t *testing.T) {
	old := dir
	dir = ""
	t.Cleanup(func() { dir = old })
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { At(ctx, "PullImage") }); n != 0 {
		t.Errorf("At allocates %v times when off", n)
	}
}
