package network

import (
	"math"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	for in, want := range map[string]uint64{"100": 100, "10M": 10_000_000, "1.5k": 1500, "1Mi": 1 << 20, "0.5": 1, "2Gi": 2 << 30,
		// apimachinery's forms: exponents, a sign, sub-unit suffixes
		// (rounded up), surrounding blanks trimmed as before.
		"1e6": 1_000_000, "+2k": 2000, "1500m": 2, " 10M ": 10_000_000, "9E": 9_000_000_000_000_000_000} {
		if got, err := parseQuantity(in); err != nil || got != want {
			t.Errorf("parseQuantity(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1", "0", "10X", "1.2.3", "1K", "10E", "1000000E", "-5M", "0.0"} {
		if _, err := parseQuantity(bad); err == nil {
			t.Errorf("parseQuantity(%q) accepted", bad)
		}
	}
}

func TestBandwidthOf(t *testing.T) {
	bw, err := bandwidthOf(map[string]string{IngressBandwidthAnnotation: "1M"})
	if err != nil || bw.IngressRate != 1_000_000 || bw.IngressBurst != math.MaxUint32 || bw.EgressRate != 0 {
		t.Fatalf("%+v %v", bw, err)
	}
	if bw, err := bandwidthOf(nil); bw != nil || err != nil {
		t.Fatal(bw, err)
	}
	if _, err := bandwidthOf(map[string]string{EgressBandwidthAnnotation: "fast"}); err == nil {
		t.Fatal("bad quantity accepted")
	}
}
