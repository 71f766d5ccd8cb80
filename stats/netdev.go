package stats

import (
	"strings"

	cnins "github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// Interface is one network interface's counters.
type Interface struct {
	Name                                  string
	RxBytes, RxPackets, RxErrors, RxDrops uint64
	TxBytes, TxPackets, TxErrors, TxDrops uint64
}

// NetworkInterfaces reads the counters of the interfaces in the network
// namespace at nsPath (the host's when nsPath is empty). Loopback and
// host-side links (veth*, docker*) are left out, as cAdvisor does.
func NetworkInterfaces(nsPath string) ([]Interface, error) {
	var out []Interface
	read := func(cnins.NetNS) error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			a := l.Attrs()
			if a == nil || a.Statistics == nil || ignoredInterface(a.Name) {
				continue
			}
			st := a.Statistics
			out = append(out, Interface{
				Name:    a.Name,
				RxBytes: st.RxBytes, RxPackets: st.RxPackets, RxErrors: st.RxErrors, RxDrops: st.RxDropped,
				TxBytes: st.TxBytes, TxPackets: st.TxPackets, TxErrors: st.TxErrors, TxDrops: st.TxDropped,
			})
		}
		return nil
	}
	if nsPath == "" {
		return out, read(nil)
	}
	return out, cnins.WithNetNSPath(nsPath, read)
}

func ignoredInterface(name string) bool {
	for _, p := range []string{"lo", "veth", "docker", "nerdctl"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
