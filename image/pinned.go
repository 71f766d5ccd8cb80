package image

// normalizedRef is an image reference as written and as image records
// name it.
type normalizedRef struct{ raw, name string }

// sandboxImage is the running configuration's sandbox image as image
// records name it: ImageStatus and ListImages report that image pinned,
// so kubelet's image garbage collection keeps it. After a reload that
// changes sandbox_image the new image is pinned and the old one no more
// (as with CRI-O). It is "" when the reference does not parse, which
// start-up and a reload both refuse.
func (s *Service) sandboxImage() string {
	raw := s.opts.Config.Get().SandboxImage
	if c := s.pinnedName.Load(); c != nil && c.raw == raw {
		return c.name
	}
	named, err := ParseRef(raw)
	if err != nil {
		return ""
	}
	s.pinnedName.Store(&normalizedRef{raw: raw, name: named.String()})
	return named.String()
}
