package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	dockerconfig "github.com/containerd/containerd/v2/core/remotes/docker/config"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// pullLeftovers waits until the daemon holds no lease and no snapshot
// beyond those of before (a failed pull's are removed as it unwinds, its
// committed layers at the next garbage collection) and no layer spool
// file open, and fails the test with what is left otherwise.
func pullLeftovers(t *testing.T, d *testrig.Daemon, before testrig.Resources) {
	t.Helper()
	var diff string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		d.CollectGarbage(t)
		after := d.Resources(t)
		diff = before.Diff(after)
		if spools := openSpools(d); len(spools) > 0 {
			diff += fmt.Sprintf(" open spool files %v", spools)
		}
		if diff == "" {
			return
		}
	}
	t.Fatalf("a failed pull left: %s", diff)
}

// openSpools lists the layer spool files cricketd has open.
func openSpools(d *testrig.Daemon) []string {
	dir := fmt.Sprintf("/proc/%d/fd", d.PID())
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.Contains(l, "pull-spool") {
			out = append(out, l)
		}
	}
	return out
}

func TestPullLayerFailingMidStreamLeavesNothing(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.DataImage(t, uint64(time.Now().UnixNano()), 4<<20, 4<<20, 4<<20)
	reg.Push(t, "broken:1", img)
	layers := testrig.LayerDigests(t, img)
	reg.FailBlob(layers[2], true)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Registry: reg})
	before := d.Resources(t)

	ref := reg.Host + "/broken:1"
	_, err := d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: ref}})
	if err == nil {
		t.Fatal("pull of an image whose layer breaks off succeeded")
	}
	if !strings.Contains(err.Error(), layers[2]) || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("the error does not name the broken layer and what happened: %v", err)
	}
	t.Logf("the pull failed with: %v", err)
	if st := imageStatus(t, d, ref); st != nil {
		t.Fatalf("a failed pull left an image: %v", st)
	}
	if all := listImages(t, d, ""); len(all) != 0 {
		t.Fatalf("a failed pull left images: %v", all)
	}
	pullLeftovers(t, d, before)

	reg.FailBlob(layers[2], false)
	pull(t, d, ref)
}

func TestPullCancelledByDeadlineLeavesNothing(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.DataImage(t, uint64(time.Now().UnixNano()), 4<<20, 4<<20, 4<<20)
	reg.Push(t, "slow:1", img)
	layers := testrig.LayerDigests(t, img)
	// The top layer hangs midway: the lower ones are in (and unpacked)
	// when the deadline strikes.
	reg.StallBlob(layers[3])
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Registry: reg})
	before := d.Resources(t)

	ref := reg.Host + "/slow:1"
	ctx, cancel := context.WithTimeout(d.Ctx(), 3*time.Second)
	defer cancel()
	_, err := d.Images.PullImage(ctx, &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: ref}})
	wantCode(t, err, codes.DeadlineExceeded)
	if st := imageStatus(t, d, ref); st != nil {
		t.Fatalf("a cancelled pull left an image: %v", st)
	}
	pullLeftovers(t, d, before)
}

func TestPullsSharingLayersFetchEachLayerOnce(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	seed := uint64(time.Now().UnixNano())
	// Four images on one base: busybox and a shared 4 MB layer, each
	// with a layer of its own on top.
	shared := testrig.LayerDigests(t, testrig.DataImage(t, seed, 4<<20))
	var refs []string
	var own []string
	for i := range 4 {
		img := testrig.DataImage(t, seed, 4<<20, int64(1<<20+i))
		ls := testrig.LayerDigests(t, img)
		if !slices.Equal(ls[:2], shared) {
			t.Fatalf("image %d does not share the base layers", i)
		}
		own = append(own, ls[2])
		repo := "shared" + string(rune('a'+i)) + ":1"
		reg.Push(t, repo, img)
		refs = append(refs, reg.Host+"/"+repo)
	}
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Registry: reg})

	// Three at once, then the fourth.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() {
			_, errs[i] = d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: refs[i]}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pull %s: %v", refs[i], err)
		}
	}
	pull(t, d, refs[3])
	for _, l := range shared {
		if n := reg.BlobGets(l); n != 1 {
			t.Errorf("shared layer %s downloaded %d times, want once", l, n)
		}
	}
	for _, l := range own {
		if n := reg.BlobGets(l); n != 1 {
			t.Errorf("layer %s downloaded %d times, want once", l, n)
		}
	}
	if all := listImages(t, d, ""); len(all) != 4 {
		t.Fatalf("ListImages = %d images, want 4", len(all))
	}
}

// An image the streaming unpack has nothing to unpack for (no layers)
// goes through containerd's client pull instead.
func TestPullImageWithoutLayersFallsBack(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: "amd64", OS: "linux",
		RootFS: v1.RootFS{Type: "layers"}, Config: v1.Config{Labels: map[string]string{"t": t.Name()}}})
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "nolayers:1", img)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Registry: reg})
	id := pull(t, d, reg.Host+"/nolayers:1")
	if want, _ := img.ConfigName(); id != want.String() {
		t.Fatalf("pulled %s, want %s", id, want)
	}
	if !d.Grep("pulling with containerd's client") {
		t.Fatal("the pull did not go through containerd's client pull")
	}
}

// Layers whose blobs are in containerd's content store already (fetched
// by containerd's client) are applied from there, not downloaded again.
func TestPullAppliesLayersInTheContentStore(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.DataImage(t, uint64(time.Now().UnixNano()), 2<<20)
	reg.Push(t, "fetched:1", img)
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Registry: reg})
	ref := reg.Host + "/fetched:1"

	c, err := client.New(d.Config.Containerd.Address, client.WithDefaultNamespace(d.Config.Containerd.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: dockerconfig.ConfigureHosts(d.Ctx(), dockerconfig.HostOptions{DefaultScheme: "http"})})
	if _, err := c.Fetch(d.Ctx(), ref, client.WithResolver(resolver)); err != nil {
		t.Fatalf("containerd's fetch: %v", err)
	}
	pull(t, d, ref)
	for _, l := range testrig.LayerDigests(t, img) {
		if n := reg.BlobGets(l); n != 1 {
			t.Errorf("layer %s downloaded %d times, want once (by containerd's fetch)", l, n)
		}
	}
	if st := imageStatus(t, d, ref); st == nil {
		t.Fatal("no image after the pull")
	}
}

// A pull that cricketd's crash interrupts (layers below committed, one
// extracting) leaves nothing once cricketd is back.
func TestPullInterruptedByCrashLeavesNothing(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	img := testrig.DataImage(t, uint64(time.Now().UnixNano()), 4<<20, 4<<20, 4<<20)
	reg.Push(t, "crash:1", img)
	layers := testrig.LayerDigests(t, img)
	reg.StallBlob(layers[3])
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Registry: reg})
	before := d.Resources(t)

	go d.Images.PullImage(d.Ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: reg.Host + "/crash:1"}})
	for deadline := time.Now().Add(30 * time.Second); reg.BlobGets(layers[3]) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pull never reached the stalling layer")
		}
	}
	time.Sleep(200 * time.Millisecond)
	d.Kill()
	d.Start()
	d.WaitReady()
	if all := listImages(t, d, ""); len(all) != 0 {
		t.Fatalf("an interrupted pull left images: %v", all)
	}
	pullLeftovers(t, d, before)
}

// A pull stuck on a layer does not hold up the pull of another image,
// however many downloads it has under way.
func TestPullsOfDifferentImagesDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	reg := testrig.StartRegistry(t)
	seed := uint64(time.Now().UnixNano())
	stuck := testrig.DataImage(t, seed, 1<<20, 1<<20, 1<<20, 1<<20, 1<<20)
	other := testrig.DataImage(t, seed+100, 1<<20, 1<<20)
	reg.Push(t, "stuck:1", stuck)
	reg.Push(t, "other:1", other)
	layers := testrig.LayerDigests(t, stuck)
	for _, l := range layers[1:] {
		reg.StallBlob(l)
	}
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Registry: reg})

	ctx, cancel := context.WithCancel(d.Ctx())
	defer cancel()
	stuckErr := make(chan error, 1)
	go func() {
		_, err := d.Images.PullImage(ctx, &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: reg.Host + "/stuck:1"}})
		stuckErr <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); reg.BlobGets(layers[1]) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first pull never reached its stalling layers")
		}
	}
	start := time.Now()
	pull(t, d, reg.Host+"/other:1")
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("the other image took %s to pull", el)
	}
	select {
	case err := <-stuckErr:
		t.Fatalf("the stuck pull ended: %v", err)
	default:
	}
	cancel()
	if err := <-stuckErr; err == nil {
		t.Fatal("the stuck pull succeeded")
	}
}
