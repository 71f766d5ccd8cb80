package spec

import (
	"fmt"
	"slices"

	"github.com/containerd/errdefs"
	nriapi "github.com/containerd/nri/pkg/api"
	nrigen "github.com/containerd/nri/pkg/runtime-tools/generate"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// specEditor is all NRI's applier needs of a spec generator.
var _ nrigen.UnderlyingGenerator = (*specEditor)(nil)

// AdjustForNRI applies NRI plugins' adjustment of a container being
// created to its spec, with NRI's own applier. The adjusted spec keeps
// the rules cricket's spec generation follows: an oom_score_adj below
// cricketd's own is raised to it (see OOMScore) and hugepage limits of
// page sizes the host's cgroups cannot hold are dropped (see
// hugetlbSizes). What cricket does not support fails the adjustment
// instead of being ignored: CDI devices and block I/O or RDT classes.
func AdjustForNRI(s *specs.Spec, adj *nriapi.ContainerAdjustment, oom *OOMScore) error {
	if adj == nil {
		return nil
	}
	if err := unsupportedNRI(adj); err != nil {
		return err
	}
	g := nrigen.SpecGenerator(&specEditor{s: s}, nrigen.WithResourceChecker(func(r *specs.LinuxResources) error {
		if r != nil {
			r.HugepageLimits = slices.DeleteFunc(r.HugepageLimits, func(h specs.LinuxHugepageLimit) bool {
				return !slices.Contains(hugetlbSizes(), h.Pagesize)
			})
		}
		return nil
	}))
	if err := g.Adjust(adj); err != nil {
		return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if adj.GetLinux().GetOomScoreAdj() != nil && s.Process != nil && s.Process.OOMScoreAdj != nil {
		v := oom.Adjust(*s.Process.OOMScoreAdj)
		s.Process.OOMScoreAdj = &v
	}
	return nil
}

// unsupportedNRI refuses the parts of an adjustment cricket has no
// resolver for, which NRI's applier would skip without a word.
func unsupportedNRI(adj *nriapi.ContainerAdjustment) error {
	if len(adj.GetCDIDevices()) > 0 {
		return fmt.Errorf("CDI devices (%s) are not supported by cricket: %w", adj.GetCDIDevices()[0].GetName(), errdefs.ErrInvalidArgument)
	}
	r := adj.GetLinux().GetResources()
	if c := r.GetBlockioClass().Get(); c != nil && *c != "" {
		return fmt.Errorf("block I/O class %q: block I/O classes are not supported by cricket: %w", *c, errdefs.ErrInvalidArgument)
	}
	if c := r.GetRdtClass().Get(); c != nil && *c != "" {
		return fmt.Errorf("RDT class %q: RDT classes are not supported by cricket: %w", *c, errdefs.ErrInvalidArgument)
	}
	return nil
}
