package network

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/containerd/errdefs"
	gocni "github.com/containerd/go-cni"
	"github.com/vishvananda/netlink"
)

// Pod annotations that kubelet uses for traffic shaping.
const (
	IngressBandwidthAnnotation = "kubernetes.io/ingress-bandwidth"
	EgressBandwidthAnnotation  = "kubernetes.io/egress-bandwidth"
)

// bandwidthOf reads the bandwidth annotations (Kubernetes quantities in bits
// per second, e.g. "10M") into the CNI bandwidth capability, or nil.
func bandwidthOf(ann map[string]string) (*gocni.BandWidth, error) {
	in, inOK := ann[IngressBandwidthAnnotation]
	out, outOK := ann[EgressBandwidthAnnotation]
	if !inOK && !outOK {
		return nil, nil
	}
	bw := &gocni.BandWidth{}
	if inOK {
		rate, err := parseQuantity(in)
		if err != nil {
			return nil, fmt.Errorf("annotation %s=%q: %v: %w", IngressBandwidthAnnotation, in, err, errdefs.ErrInvalidArgument)
		}
		// Like kubelet: no burst limit beyond the rate.
		bw.IngressRate, bw.IngressBurst = rate, math.MaxUint32
	}
	if outOK {
		rate, err := parseQuantity(out)
		if err != nil {
			return nil, fmt.Errorf("annotation %s=%q: %v: %w", EgressBandwidthAnnotation, out, err, errdefs.ErrInvalidArgument)
		}
		bw.EgressRate, bw.EgressBurst = rate, math.MaxUint32
	}
	return bw, nil
}

var quantitySuffixes = map[string]*big.Rat{
	"":   big.NewRat(1, 1),
	"k":  big.NewRat(1e3, 1),
	"M":  big.NewRat(1e6, 1),
	"G":  big.NewRat(1e9, 1),
	"T":  big.NewRat(1e12, 1),
	"P":  big.NewRat(1e15, 1),
	"Ki": big.NewRat(1<<10, 1),
	"Mi": big.NewRat(1<<20, 1),
	"Gi": big.NewRat(1<<30, 1),
	"Ti": big.NewRat(1<<40, 1),
	"Pi": big.NewRat(1<<50, 1),
}

// parseQuantity parses a positive Kubernetes quantity ("100", "1.5M",
// "10Mi") into an integer, rounding up.
func parseQuantity(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, suffix := s, ""
	if i >= 0 {
		num, suffix = s[:i], s[i:]
	}
	mult, ok := quantitySuffixes[suffix]
	if !ok || num == "" {
		return 0, fmt.Errorf("not a quantity")
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok || r.Sign() <= 0 {
		return 0, fmt.Errorf("not a positive quantity")
	}
	r.Mul(r, mult)
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if new(big.Rat).SetInt(q).Cmp(r) < 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() {
		return 0, fmt.Errorf("quantity too large")
	}
	return q.Uint64(), nil
}

// limitBandwidth shapes a bridge pod's traffic with token bucket filters:
// ingress (towards the pod) on the host end of its veth, egress on the
// pod's eth0 (inside the pod's namespace, which the pod cannot change
// without CAP_NET_ADMIN). Rates are in bits per second; 0 means no limit.
func limitBandwidth(pod *netlink.Handle, eth0, hostVeth netlink.Link, ingress, egress uint64) error {
	if ingress > 0 {
		if err := netlink.QdiscReplace(tbf(hostVeth, ingress)); err != nil {
			return fmt.Errorf("ingress limit on %s: %w", hostVeth.Attrs().Name, err)
		}
	}
	if egress > 0 {
		if err := pod.QdiscReplace(tbf(eth0, egress)); err != nil {
			return fmt.Errorf("egress limit on eth0: %w", err)
		}
	}
	return nil
}

// tbf is a token bucket of the rate (bits/s) with a burst of 100 ms of
// traffic (at least a few full frames) and 25 ms of queue.
func tbf(link netlink.Link, bitsPerSec uint64) *netlink.Tbf {
	rate := bitsPerSec / 8
	if rate == 0 {
		rate = 1
	}
	burst := rate / 10
	if floor := uint64(4 * link.Attrs().MTU); burst < floor {
		burst = floor
	}
	if burst > math.MaxUint32/2 {
		burst = math.MaxUint32 / 2
	}
	return &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate:       rate,
		Buffer:     netlink.Xmittime(rate, uint32(burst)),
		Limit:      uint32(min(uint64(math.MaxUint32/2), rate/40+burst)),
	}
}
