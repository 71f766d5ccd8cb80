package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testimages"
)

// PullScenario is one measured PullImage step: its images pulled at once,
// timed until the last is in.
type PullScenario struct {
	Name string
	Refs []string
	// Blobs are the images' layer digests and Chains their snapshots'
	// chain IDs: after a pull they must be gone from the content store and
	// the snapshotter (garbage-collected) on both sides.
	Blobs  []digest.Digest
	Chains []digest.Digest
}

// PullImages are the pull benchmark's images, generated (incompressible
// data, deterministic) and pushed to the registry at host:
//   - one large multi-layer image: the busybox layer (1 MB) and 4 × 50 MB,
//   - one image of many small layers: busybox and 24 × 256 KiB,
//   - 4 different images pulled at once, each busybox and 2 × 16 MB (the
//     busybox layer is shared by all).
//
// only, if not empty, keeps the scenarios whose names contain one of its
// comma-separated words (large, small, once).
func PullImages(host, only string) ([]PullScenario, error) {
	const mb = 1 << 20
	type img struct {
		name  string
		seed  uint64
		sizes []int64
	}
	rep := func(n int, size int64) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = size
		}
		return s
	}
	groups := []struct {
		name string
		imgs []img
	}{
		{"pull large (1+4x50 MB)", []img{{"pull-large", 1000, rep(4, 50*mb)}}},
		{"pull small layers (24x256 KiB)", []img{{"pull-small", 2000, rep(24, 256<<10)}}},
		{"pull 4 images at once", []img{
			{"pull-c1", 3000, rep(2, 16*mb)}, {"pull-c2", 3010, rep(2, 16*mb)},
			{"pull-c3", 3020, rep(2, 16*mb)}, {"pull-c4", 3030, rep(2, 16*mb)},
		}},
	}
	var out []PullScenario
	for _, g := range groups {
		keep := only == ""
		for _, w := range strings.Split(only, ",") {
			keep = keep || (w != "" && strings.Contains(g.name, w))
		}
		if !keep {
			continue
		}
		sc := PullScenario{Name: g.name}
		for _, im := range g.imgs {
			image, err := testimages.DataImage(im.seed, im.sizes...)
			if err != nil {
				return nil, err
			}
			ref := host + "/" + im.name + ":bench"
			if err := testimages.Push(ref, image); err != nil {
				return nil, fmt.Errorf("push %s: %w", ref, err)
			}
			blobs, err := layerDigests(image)
			if err != nil {
				return nil, err
			}
			cf, err := image.ConfigFile()
			if err != nil {
				return nil, err
			}
			var diffIDs []digest.Digest
			for _, d := range cf.RootFS.DiffIDs {
				diffIDs = append(diffIDs, digest.Digest(d.String()))
			}
			sc.Refs = append(sc.Refs, ref)
			sc.Blobs = append(sc.Blobs, blobs...)
			sc.Chains = append(sc.Chains, identity.ChainIDs(diffIDs)...)
		}
		out = append(out, sc)
	}
	return out, nil
}

func layerDigests(img v1.Image) ([]digest.Digest, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, digest.Digest(d.String()))
	}
	return out, nil
}

// PullOptions say how to measure pulls.
type PullOptions struct {
	Rounds   int
	Progress interface{ Write([]byte) (int, error) }
}

// RunPull measures PullImage of each scenario on each endpoint, rounds
// times, alternating endpoints (and their order, round by round). Before
// and after every pull the images are removed through the CRI and their
// layers garbage-collected from the endpoint's containerd
// (ContainerdAddress must be set), and before it dirty pages are written
// out, so that each pull starts from the same state and pays for its own
// writes.
func RunPull(ctx context.Context, o PullOptions, scenarios []PullScenario, eps ...*Endpoint) (*Report, error) {
	rep := &Report{result: newResult(), resources: map[string]*usage{}, pullOnly: true}
	for _, e := range eps {
		rep.endpoints = append(rep.endpoints, e.Name)
		rep.resources[e.Name] = &usage{}
		if e.ContainerdAddress == "" {
			return nil, fmt.Errorf("%s: the pull benchmark needs the endpoint's containerd address", e.Name)
		}
	}
	for _, e := range eps {
		for _, sc := range scenarios {
			if err := removeAndCollect(ctx, e, sc); err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name, err)
			}
		}
	}
	cpu := map[string]time.Duration{}
	for r := range o.Rounds {
		order := eps
		if r%2 == 1 {
			order = reversed(eps)
		}
		for _, sc := range scenarios {
			for _, e := range order {
				progress(o.Progress, "pull round %d/%d: %s on %s", r+1, o.Rounds, sc.Name, e.Name)
				syscall.Sync()
				c0 := cpuTime(e.PIDs)
				d, err := pullAll(ctx, e, sc.Refs)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", e.Name, sc.Name, err)
				}
				cpu[e.Name] += cpuTime(e.PIDs) - c0
				rep.result.add(e.Name, sc.Name, d)
				if err := checkUnpacked(ctx, e, sc); err != nil {
					return nil, fmt.Errorf("%s: %w", e.Name, err)
				}
				if err := removeAndCollect(ctx, e, sc); err != nil {
					return nil, fmt.Errorf("%s: %w", e.Name, err)
				}
			}
		}
	}
	for _, e := range eps {
		rep.resources[e.Name].pullCPU = cpu[e.Name] / time.Duration(max(1, o.Rounds*len(scenarios)))
	}
	progress(o.Progress, "done")
	if o.Progress != nil {
		fmt.Fprintln(o.Progress)
	}
	return rep, nil
}

func reversed(eps []*Endpoint) []*Endpoint {
	out := make([]*Endpoint, len(eps))
	for i, e := range eps {
		out[len(eps)-1-i] = e
	}
	return out
}

// pullAll pulls refs at once and returns the time until the last is in.
func pullAll(ctx context.Context, e *Endpoint, refs []string) (time.Duration, error) {
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, ref := range refs {
		wg.Go(func() {
			_, errs[i] = e.Images.PullImage(ctx, &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: ref}})
		})
	}
	wg.Wait()
	d := time.Since(start)
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("pull %s: %w", refs[i], err)
		}
	}
	return d, nil
}

// checkUnpacked checks that every layer of the scenario's images is
// unpacked: each chain ID's snapshot exists (a pull is only done then).
func checkUnpacked(ctx context.Context, e *Endpoint, sc PullScenario) error {
	c, err := client.New(e.ContainerdAddress, client.WithDefaultNamespace("k8s.io"))
	if err != nil {
		return err
	}
	defer c.Close()
	sn := c.SnapshotService("overlayfs")
	for _, ch := range sc.Chains {
		if _, err := sn.Stat(ctx, ch.String()); err != nil {
			return fmt.Errorf("%s: snapshot %s after the pull: %w", sc.Name, ch, err)
		}
	}
	return nil
}

// removeAndCollect removes the scenario's images through the CRI and waits
// until containerd has garbage-collected their layers and snapshots.
func removeAndCollect(ctx context.Context, e *Endpoint, sc PullScenario) error {
	for _, ref := range sc.Refs {
		if _, err := e.Images.RemoveImage(ctx, &runtime.RemoveImageRequest{Image: &runtime.ImageSpec{Image: ref}}); err != nil {
			return fmt.Errorf("remove %s: %w", ref, err)
		}
	}
	c, err := client.New(e.ContainerdAddress, client.WithDefaultNamespace("k8s.io"))
	if err != nil {
		return err
	}
	defer c.Close()
	cs := c.ContentStore()
	sn := c.SnapshotService("overlayfs")
	deadline := time.Now().Add(60 * time.Second)
	for {
		left := 0
		for _, b := range sc.Blobs {
			if _, err := cs.Info(ctx, b); !errdefs.IsNotFound(err) {
				left++
			}
		}
		for _, ch := range sc.Chains {
			if _, err := sn.Stat(ctx, ch.String()); !errdefs.IsNotFound(err) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d layers or snapshots of %q still in containerd 60s after their images were removed", left, sc.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
