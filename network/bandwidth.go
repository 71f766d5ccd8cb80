package network

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/containerd/errdefs"
	gocni "github.com/containerd/go-cni"
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
