package image

import (
	"sync"
	"time"
)

// catalogCache keeps the last catalog between changes to the image records,
// so that the image lookups of every pod and container creation (and of
// image status and list calls) do not each list all of containerd's image
// records: a call whose cost grows with the images on the node.
//
// containerd stays the source of truth. A catalog is kept only while
// containerd's image events are watched (Watched, from the event monitor)
// and dropped on every image created, updated or deleted in the namespace,
// whoever changed it, and whenever the event stream was re-established
// (changes may have been missed). cricket's own pulls and removals drop it
// when they return, before their event arrives. A lookup that misses in a
// kept catalog lists again before it answers NotFound: an image another
// client has just made is found even before its event.
type catalogCache struct {
	mu sync.Mutex
	// watched: image events reach InvalidateCatalog, so a catalog may be
	// kept.
	watched bool
	// gen counts invalidations: a catalog built across one is not kept.
	gen uint64
	cat *catalog
	// pinned is the sandbox image cat was built with (a reload may
	// change it, and with it which image is pinned).
	pinned string
}

// get returns the kept catalog if it was built for the sandbox image
// pinned, and the generation a catalog built now must be stored with.
func (c *catalogCache) get(pinned string) (*catalog, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cat != nil && c.pinned == pinned {
		return c.cat, c.gen
	}
	return nil, c.gen
}

// put keeps cat, built for pinned, unless image events are not watched or
// an invalidation came since gen.
func (c *catalogCache) put(gen uint64, pinned string, cat *catalog) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watched && c.gen == gen {
		c.cat, c.pinned = cat, pinned
	}
}

func (c *catalogCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.cat = nil
}

// setWatched records whether image events are watched, and drops the kept
// catalog in the same critical section.
func (c *catalogCache) setWatched(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watched = on
	c.gen++
	c.cat = nil
}

// Watched says whether containerd's image events are watched and passed
// to InvalidateCatalog, so that a catalog may be kept between them. Either
// way the catalog is dropped: changes before a subscription, or after it
// broke, are not seen. A subscription is open on containerd's side a
// moment after the client asked for it, so a catalog built in its first
// second is dropped once more.
func (s *Service) Watched(on bool) {
	s.cache.setWatched(on)
	if on {
		time.AfterFunc(time.Second, s.cache.invalidate)
	}
}

// InvalidateCatalog drops the kept catalog: an image record changed.
func (s *Service) InvalidateCatalog() { s.cache.invalidate() }
