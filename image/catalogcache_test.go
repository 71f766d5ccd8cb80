package image

import "testing"

// A catalog is kept only while image events are watched, only for the
// sandbox image it was built with, and not when an invalidation came
// while it was being built.
func TestCatalogCacheKeepsOnlyWhatEventsWouldInvalidate(t *testing.T) {
	var c catalogCache
	one, two := &catalog{}, &catalog{}
	_, gen := c.get("pause")
	c.put(gen, "pause", one)
	if got, _ := c.get("pause"); got != nil {
		t.Fatal("kept a catalog while image events are not watched")
	}
	c.watched = true
	_, gen = c.get("pause")
	c.put(gen, "pause", one)
	if got, _ := c.get("pause"); got != one {
		t.Fatal("did not keep a catalog while watched")
	}
	if got, _ := c.get("other-pause"); got != nil {
		t.Fatal("kept catalog served for another sandbox image")
	}
	c.invalidate()
	if got, _ := c.get("pause"); got != nil {
		t.Fatal("catalog kept after an invalidation")
	}
	_, gen = c.get("pause")
	c.invalidate() // an image changed while the listing ran
	c.put(gen, "pause", two)
	if got, _ := c.get("pause"); got != nil {
		t.Fatal("kept a catalog built across an invalidation")
	}
}
