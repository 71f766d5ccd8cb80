package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// slowFetcher serves blobs from memory in small pieces, counting fetches.
type slowFetcher struct {
	blobs   map[digest.Digest][]byte
	fetches atomic.Int32
}

func (f *slowFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	f.fetches.Add(1)
	return io.NopCloser(&trickle{b: f.blobs[desc.Digest], ctx: ctx}), nil
}

type trickle struct {
	b   []byte
	ctx context.Context
}

func (t *trickle) Read(p []byte) (int, error) {
	if err := t.ctx.Err(); err != nil {
		return 0, err
	}
	if len(t.b) == 0 {
		return 0, io.EOF
	}
	time.Sleep(time.Millisecond)
	n := copy(p[:min(len(p), 1000)], t.b)
	t.b = t.b[n:]
	return n, nil
}

func blobDesc(b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func readAllStream(t *testing.T, p *layerPrefetch, desc ocispec.Descriptor) []byte {
	t.Helper()
	ra, err := p.ReaderAt(context.Background(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	got, err := io.ReadAll(ra.(*layerStream).Reader())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPrefetchSharesDownloadsBetweenPulls(t *testing.T) {
	a, b := bytes.Repeat([]byte("a"), 50_000), bytes.Repeat([]byte("b"), 30_000)
	f := &slowFetcher{blobs: map[digest.Digest][]byte{digest.FromBytes(a): a, digest.FromBytes(b): b}}
	shared := newSharedDownloads()
	layers := []ocispec.Descriptor{blobDesc(a), blobDesc(b)}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			p := newLayerPrefetch(f, 2, t.TempDir(), shared, nil)
			defer p.close()
			p.plan(layers, func(int, ocispec.Descriptor) bool { return false })
			if got := readAllStream(t, p, layers[0]); !bytes.Equal(got, a) {
				t.Errorf("layer a: %d bytes, want %d", len(got), len(a))
			}
			if got := readAllStream(t, p, layers[1]); !bytes.Equal(got, b) {
				t.Errorf("layer b: %d bytes, want %d", len(got), len(b))
			}
		})
	}
	wg.Wait()
	if n := f.fetches.Load(); n > 2*3 || n < 2 {
		t.Fatalf("%d fetches", n)
	}
	if len(shared.m) != 0 {
		t.Fatalf("downloads left after every pull closed: %d", len(shared.m))
	}
}

// An image may hold one blob twice (e.g. an empty layer): it downloads
// once and reads twice.
func TestPrefetchRepeatedLayer(t *testing.T) {
	a, b := bytes.Repeat([]byte("a"), 20_000), bytes.Repeat([]byte("b"), 20_000)
	f := &slowFetcher{blobs: map[digest.Digest][]byte{digest.FromBytes(a): a, digest.FromBytes(b): b}}
	p := newLayerPrefetch(f, 3, t.TempDir(), newSharedDownloads(), nil)
	defer p.close()
	layers := []ocispec.Descriptor{blobDesc(a), blobDesc(b), blobDesc(a)}
	p.plan(layers, func(int, ocispec.Descriptor) bool { return false })
	for _, l := range layers {
		if got := readAllStream(t, p, l); int64(len(got)) != l.Size {
			t.Fatalf("layer %s: %d bytes, want %d", l.Digest, len(got), l.Size)
		}
	}
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestPrefetchJoinsADownloadUnderWay(t *testing.T) {
	a := bytes.Repeat([]byte("x"), 100_000)
	f := &slowFetcher{blobs: map[digest.Digest][]byte{digest.FromBytes(a): a}}
	shared := newSharedDownloads()
	layers := []ocispec.Descriptor{blobDesc(a)}
	p1 := newLayerPrefetch(f, 1, t.TempDir(), shared, nil)
	p1.plan(layers, func(int, ocispec.Descriptor) bool { return false })
	p2 := newLayerPrefetch(f, 1, t.TempDir(), shared, nil)
	p2.plan(layers, func(int, ocispec.Descriptor) bool { return false })
	// The first pull goes away: the second still gets the whole layer.
	p1.close()
	if got := readAllStream(t, p2, layers[0]); !bytes.Equal(got, a) {
		t.Fatalf("got %d bytes, want %d", len(got), len(a))
	}
	p2.close()
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches of one layer for two pulls, want 1", n)
	}
}

func TestPrefetchReaderEndsWithItsContext(t *testing.T) {
	a := bytes.Repeat([]byte("x"), 10_000_000) // takes ~10 s to trickle
	f := &slowFetcher{blobs: map[digest.Digest][]byte{digest.FromBytes(a): a}}
	p := newLayerPrefetch(f, 1, t.TempDir(), newSharedDownloads(), nil)
	defer p.close()
	p.plan([]ocispec.Descriptor{blobDesc(a)}, func(int, ocispec.Descriptor) bool { return false })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ra, err := p.ReaderAt(ctx, blobDesc(a))
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	start := time.Now()
	_, err = io.ReadAll(ra.(*layerStream).Reader())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("read ended after %s with %v", time.Since(start), err)
	}
}

func TestLayerStreamChecksSize(t *testing.T) {
	desc := ocispec.Descriptor{Digest: digest.FromString("x"), Size: 10}
	for _, tc := range []struct {
		data string
		err  string
	}{
		{"0123456789", ""},
		{"01234", "stream ended after 5 of 10 bytes"},
		{"0123456789abc", "more than its 10 bytes"},
	} {
		l := &layerStream{rc: io.NopCloser(strings.NewReader(tc.data)), desc: desc}
		_, err := io.ReadAll(l.Reader())
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, want %q", tc.data, err, tc.err)
		}
	}
}

func TestKeyLocks(t *testing.T) {
	k := newKeyLocks()
	ctx := context.Background()
	if err := k.Lock(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := k.Lock(cctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock: %v", err)
	}
	got := make(chan struct{})
	go func() {
		k.Lock(ctx, "a")
		close(got)
		k.Unlock("a")
	}()
	time.Sleep(20 * time.Millisecond)
	k.Unlock("a")
	<-got
	for {
		k.mu.Lock()
		n := len(k.locks)
		k.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
}

func TestKernelMounts(t *testing.T) {
	for _, tc := range []struct {
		m    []mount.Mount
		want bool
	}{
		{[]mount.Mount{{Type: "bind", Source: "/a", Options: []string{"rbind", "rw"}}}, true},
		{[]mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{"upperdir=/u", "lowerdir=/l"}}}, true},
		{[]mount.Mount{{Type: "erofs", Source: "/x"}, {Type: "format/overlay", Options: []string{"lowerdir={{ mount 0 }}"}}}, false},
		{[]mount.Mount{{Type: "overlay", Options: []string{"lowerdir={{ mount 0 }}"}}}, false},
	} {
		if got := kernelMounts(tc.m); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.m, got, tc.want)
		}
	}
}

// stallFetcher sends a little of each blob, then nothing until the
// download is cancelled.
type stallFetcher struct{}

func (stallFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return io.NopCloser(&stallReader{ctx: ctx}), nil
}

type stallReader struct {
	ctx  context.Context
	sent bool
}

func (r *stallReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "some bytes"), nil
	}
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

// A pull that joined another's download sees that download's stall as its
// own: its progress timeout trips.
func TestJoinedDownloadStallTripsProgressTimeout(t *testing.T) {
	shared := newSharedDownloads()
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("x"), Size: 100}
	p1 := newLayerPrefetch(stallFetcher{}, 1, t.TempDir(), shared, nil)
	p1.plan([]ocispec.Descriptor{layer}, func(int, ocispec.Descriptor) bool { return false })
	tr := newProgressTracker(100 * time.Millisecond)
	p2 := newLayerPrefetch(stallFetcher{}, 1, t.TempDir(), shared, tr)
	p2.plan([]ocispec.Descriptor{layer}, func(int, ocispec.Descriptor) bool { return false })
	deadline := time.Now().Add(5 * time.Second)
	for !tr.stalled(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("the joined pull never saw the stall")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p2.close()
	if tr.stalled(time.Now()) {
		t.Fatal("still stalled after leaving the download")
	}
	p1.close()
}
