package network

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIPAMAllocatesDistinctHostAddressesAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	_, subnet, _ := net.ParseCIDR("10.9.0.0/29") // hosts .2 to .6 (.1 is the gateway)
	a := newIPAM(dir)
	got := map[string]string{}
	for _, owner := range []string{"a", "b", "c", "d", "e"} {
		ip, err := a.Allocate(subnet, owner)
		if err != nil {
			t.Fatalf("allocate for %s: %v", owner, err)
		}
		if s := ip.String(); s == "10.9.0.0" || s == "10.9.0.1" || s == "10.9.0.7" || got[s] != "" {
			t.Fatalf("allocated %s to %s (taken: %v)", s, owner, got)
		}
		got[ip.String()] = owner
	}
	if _, err := a.Allocate(subnet, "f"); err == nil {
		t.Fatal("allocated from a full subnet")
	}
	// Asking again returns the owner's address.
	ip, err := a.Allocate(subnet, "c")
	if err != nil || got[ip.String()] != "c" {
		t.Fatalf("re-allocate for c: %v %v", ip, err)
	}

	// A new instance (a restart) reads the allocations from disk.
	b := newIPAM(dir)
	if err := b.Release("b"); err != nil {
		t.Fatal(err)
	}
	ip, err = b.Allocate(subnet, "f")
	if err != nil || got[ip.String()] != "b" {
		t.Fatalf("after releasing b, f got %v (%v), want b's old address", ip, err)
	}
	if err := b.Release("b"); err != nil {
		t.Fatalf("second release: %v", err)
	}
}

func TestIPAMCollectFreesUnknownAndTornAllocations(t *testing.T) {
	dir := t.TempDir()
	_, subnet, _ := net.ParseCIDR("10.9.1.0/24")
	a := newIPAM(dir)
	keep, _ := a.Allocate(subnet, "keep")
	gone, _ := a.Allocate(subnet, "gone")
	// A crash between creating the file and writing its owner.
	if err := os.WriteFile(filepath.Join(dir, "10.9.1.200"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b := newIPAM(dir)
	freed, err := b.Collect(map[string]bool{"keep": true})
	if err != nil || len(freed) != 2 {
		t.Fatalf("collect freed %v (%v), want 2 addresses", freed, err)
	}
	for _, ip := range []net.IP{gone, net.ParseIP("10.9.1.200")} {
		if _, err := os.Stat(filepath.Join(dir, ip.String())); !os.IsNotExist(err) {
			t.Errorf("%s still allocated", ip)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, keep.String())); err != nil {
		t.Errorf("known owner's address freed: %v", err)
	}
}

func TestParseJump(t *testing.T) {
	j, ok := parseJump(`-A CRICKET-HOSTPORTS -m comment --comment "sandbox 0123456789abcdef0123 bridge cricket0" -j CRICKET-HP-0123456789abcdef`)
	if want := (jumpRule{"0123456789abcdef0123", "cricket0", "CRICKET-HP-0123456789abcdef"}); !ok || j != want {
		t.Fatalf("parseJump = %+v %v, want %+v", j, ok, want)
	}
	h := hostPorts{bridge: "br-x"}
	rule := "-A " + chainHostPorts + " " + strings.Join(h.jump("abc"), " ")
	if j, ok := parseJump(strings.Replace(rule, "sandbox abc bridge br-x", `"sandbox abc bridge br-x"`, 1)); !ok || j.sandboxID != "abc" || j.bridge != "br-x" || j.chain != podChain("abc") {
		t.Fatalf("jump %q parsed as %+v %v", rule, j, ok)
	}
	if _, ok := parseJump(`-A CRICKET-HOSTPORTS -j KUBE-X`); ok {
		t.Fatal("foreign rule parsed as a sandbox jump")
	}
}
