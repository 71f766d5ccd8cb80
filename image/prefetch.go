package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/semaphore"
)

// layerPrefetch downloads one pull's layers ahead of their unpack: up to
// max_concurrent_downloads at once, in the image's layer order, each into
// a spool file (unlinked at creation, so a crash leaves nothing) that the
// layer's applier reads as it grows. The layer being applied is thus
// extracted as its bytes arrive, while the next ones download. A layer
// that another pull is downloading already is read from that download
// (see sharedDownloads). A layer it was not asked to prefetch is streamed
// from the registry when its unpack asks for it. It is the
// content.Provider of the pull's applier.
type layerPrefetch struct {
	fetcher remotes.Fetcher
	sem     *semaphore.Weighted
	dir     string
	shared  *sharedDownloads
	// tracker is the pull's progress tracker: a download the pull joined
	// reports to it (its own downloads do through the HTTP transport).
	tracker *progressTracker

	mu        sync.Mutex
	downloads map[digest.Digest]*download // the pull's references
	closed    bool
}

func newLayerPrefetch(fetcher remotes.Fetcher, downloads int, dir string, shared *sharedDownloads, tracker *progressTracker) *layerPrefetch {
	return &layerPrefetch{fetcher: fetcher, sem: semaphore.NewWeighted(int64(max(1, downloads))), dir: dir,
		shared: shared, tracker: tracker, downloads: map[digest.Digest]*download{}}
}

// sharedDownloads are the layer downloads of every pull under way, by
// digest: a pull that needs a layer another is downloading reads that
// download's spool. A download runs until it ends or no pull needs it.
type sharedDownloads struct {
	mu sync.Mutex
	m  map[digest.Digest]*download
}

func newSharedDownloads() *sharedDownloads {
	return &sharedDownloads{m: map[digest.Digest]*download{}}
}

// download is one layer's transfer into its spool.
type download struct {
	desc   ocispec.Descriptor
	f      *os.File
	ctx    context.Context
	cancel context.CancelFunc
	refs   int // under sharedDownloads.mu

	mu      sync.Mutex
	cond    *sync.Cond
	written int64
	running bool
	done    bool
	err     error
	// watchers are the progress trackers of the pulls that joined the
	// download: while it runs it counts as a transfer of theirs, and its
	// bytes as their progress, so that a stalled shared download trips
	// their image_pull_progress_timeout too.
	watchers []*progressTracker
}

// join returns the download of desc under way, referenced once more, or
// a new one (fresh) that the caller must run.
func (g *sharedDownloads) join(desc ocispec.Descriptor, dir string, tracker *progressTracker) (d *download, fresh bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := g.m[desc.Digest]; d != nil {
		d.mu.Lock()
		failed := d.done && d.err != nil
		if !failed && tracker != nil {
			d.watchers = append(d.watchers, tracker)
			if d.running {
				tracker.touch(1)
			}
		}
		d.mu.Unlock()
		if !failed {
			d.refs++
			return d, false, nil
		}
	}
	f, err := os.CreateTemp(dir, "layer-*")
	if err != nil {
		return nil, false, err
	}
	os.Remove(f.Name())
	ctx, cancel := context.WithCancel(context.Background())
	d = &download{desc: desc, f: f, ctx: ctx, cancel: cancel, refs: 1}
	d.cond = sync.NewCond(&d.mu)
	g.m[desc.Digest] = d
	return d, true, nil
}

// release drops a reference: the last one stops the download and frees
// its spool.
func (g *sharedDownloads) release(d *download, tracker *progressTracker) {
	g.mu.Lock()
	defer g.mu.Unlock()
	d.mu.Lock()
	if i := slices.Index(d.watchers, tracker); i >= 0 && tracker != nil {
		d.watchers = slices.Delete(d.watchers, i, i+1)
		if d.running {
			tracker.touch(-1)
		}
	}
	d.mu.Unlock()
	d.refs--
	if d.refs > 0 {
		return
	}
	if g.m[d.desc.Digest] == d {
		delete(g.m, d.desc.Digest)
	}
	d.cancel()
	d.mu.Lock()
	done := d.done
	d.mu.Unlock()
	if done {
		d.f.Close()
	}
}

// finish records the download's end and wakes its readers.
func (g *sharedDownloads) finish(d *download, err error) {
	g.mu.Lock()
	d.mu.Lock()
	if d.running {
		for _, w := range d.watchers {
			w.touch(-1)
		}
	}
	d.running = false
	d.done, d.err = true, err
	d.mu.Unlock()
	if err != nil && g.m[d.desc.Digest] == d {
		delete(g.m, d.desc.Digest) // the next pull tries afresh
	}
	if d.refs == 0 {
		d.f.Close()
	}
	g.mu.Unlock()
	d.cond.Broadcast()
}

// plan starts the downloads of layers (in order), leaving out those skip
// says the unpack will not need.
func (p *layerPrefetch) plan(layers []ocispec.Descriptor, skip func(int, ocispec.Descriptor) bool) {
	var todo []*download
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for i, l := range layers {
		if _, ok := p.downloads[l.Digest]; ok || skip(i, l) {
			continue
		}
		d, fresh, err := p.shared.join(l, p.dir, p.tracker)
		if err != nil {
			// No spool: the layer streams when its unpack comes.
			continue
		}
		p.downloads[l.Digest] = d
		if fresh {
			todo = append(todo, d)
		}
	}
	go func() {
		for _, d := range todo {
			// Until no pull needs the layer any more.
			if err := p.sem.Acquire(d.ctx, 1); err != nil {
				p.shared.finish(d, err)
				continue
			}
			go func() {
				defer p.sem.Release(1)
				p.shared.finish(d, d.fetch(p.fetcher))
			}()
		}
	}()
}

func (d *download) fetch(fetcher remotes.Fetcher) error {
	d.mu.Lock()
	d.running = true
	for _, w := range d.watchers {
		w.touch(1)
	}
	d.mu.Unlock()
	rc, err := fetcher.Fetch(d.ctx, d.desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := make([]byte, 256<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := d.f.Write(buf[:n]); werr != nil {
				return fmt.Errorf("spool layer %s: %w", d.desc.Digest, werr)
			}
			d.mu.Lock()
			d.written += int64(n)
			for _, w := range d.watchers {
				w.touch(0)
			}
			d.mu.Unlock()
			d.cond.Broadcast()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// has reports whether the layer is being prefetched.
func (p *layerPrefetch) has(d digest.Digest) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.downloads[d] != nil
}

// ReaderAt returns the layer's stream: its spool if it is being
// prefetched, else a fresh download.
func (p *layerPrefetch) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	p.mu.Lock()
	d := p.downloads[desc.Digest]
	p.mu.Unlock()
	if d != nil {
		stop := context.AfterFunc(ctx, func() {
			d.mu.Lock()
			defer d.mu.Unlock() // so that a reader about to wait sees ctx done
			d.cond.Broadcast()
		})
		return &layerStream{rc: &spoolReader{d: d, ctx: ctx, stop: stop}, desc: desc}, nil
	}
	if err := p.sem.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	rc, err := p.fetcher.Fetch(ctx, desc)
	if err != nil {
		p.sem.Release(1)
		return nil, err
	}
	return &layerStream{rc: &releaseOnClose{ReadCloser: rc, release: func() { p.sem.Release(1) }}, desc: desc}, nil
}

// close drops the pull's downloads: those no other pull reads stop, and
// their spools go.
func (p *layerPrefetch) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, d := range p.downloads {
		p.shared.release(d, p.tracker)
	}
	p.downloads = nil
}

type releaseOnClose struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (r *releaseOnClose) Close() error {
	r.once.Do(r.release)
	return r.ReadCloser.Close()
}

// spoolReader reads a download's spool from the start, waiting for the
// bytes not yet written.
type spoolReader struct {
	d    *download
	ctx  context.Context
	stop func() bool
	off  int64
}

func (r *spoolReader) Read(b []byte) (int, error) {
	d := r.d
	d.mu.Lock()
	for d.written <= r.off && !d.done {
		if err := r.ctx.Err(); err != nil {
			d.mu.Unlock()
			return 0, err
		}
		d.cond.Wait()
	}
	avail, done, err := d.written-r.off, d.done, d.err
	d.mu.Unlock()
	if avail == 0 {
		if done && err == nil {
			return 0, io.EOF
		}
		return 0, err
	}
	if int64(len(b)) > avail {
		b = b[:avail]
	}
	n, rerr := d.f.ReadAt(b, r.off)
	r.off += int64(n)
	if rerr == io.EOF && n > 0 {
		rerr = nil
	}
	return n, rerr
}

func (r *spoolReader) Close() error {
	r.stop()
	return nil
}
