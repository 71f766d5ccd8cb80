package image

import "testing"

// FuzzParseRef: normalization never panics and is idempotent.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"busybox", "docker.io/library/busybox:1", "127.0.0.1:5000/a/b@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "UPPER/x", "a:b:c", "sha256:abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		named, err := ParseRef(ref)
		if err != nil {
			return
		}
		again, err := ParseRef(named.String())
		if err != nil || again.String() != named.String() {
			t.Fatalf("%q normalizes to %q, which normalizes to %v (%v)", ref, named, again, err)
		}
		asID(ref)
		idPrefix(ref)
		classify(ref)
	})
}
