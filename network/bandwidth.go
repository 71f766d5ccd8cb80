package network

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/containerd/errdefs"
	gocni "github.com/containerd/go-cni"
	"github.com/vishvananda/netlink"
	"k8s.io/apimachinery/pkg/api/resource"
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

// parseQuantity parses a positive Kubernetes quantity ("100", "1.5M",
// "10Mi", "1e6") with apimachinery's parser, as kubelet reads these
// annotations, into an integer, rounding up.
func parseQuantity(s string) (uint64, error) {
	q, err := resource.ParseQuantity(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("not a quantity")
	}
	if q.Sign() <= 0 {
		return 0, errors.New("not a positive quantity")
	}
	// Value saturates or wraps beyond int64; no link is that fast.
	if q.CmpInt64(math.MaxInt64) > 0 {
		return 0, errors.New("quantity too large")
	}
	return uint64(q.Value()), nil
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
