package network

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/coreos/go-iptables/iptables"
)

// iptables chains of the built-in bridge (nat table unless noted):
//
//	PREROUTING, OUTPUT -> CRICKET-HOSTPORTS (destination is a local address)
//	  -> CRICKET-HP-<sandbox> per sandbox with host ports: mark traffic
//	     from loopback or from the pod itself (hairpin), then DNAT.
//	POSTROUTING -> CRICKET-POSTROUTING: masquerade marked traffic (so that
//	     the pod can answer 127.0.0.1 and itself) and, with ip_masq, pod
//	     traffic leaving the pod subnet.
//	filter FORWARD -> CRICKET-FORWARD: accept traffic to and from the
//	     bridge (a host firewall with a DROP policy would cut pods off).
const (
	chainHostPorts   = "CRICKET-HOSTPORTS"
	chainPostrouting = "CRICKET-POSTROUTING"
	chainForward     = "CRICKET-FORWARD"
	chainPodPrefix   = "CRICKET-HP-"
	// masqMark marks connections that need source NAT; a bit of its own
	// (kube-proxy uses 0x4000, the portmap plugin 0x2000).
	masqMark = "0x8000/0x8000"
)

// hostPorts programs host port forwarding and masquerading with iptables.
// The iptables handle (which runs the iptables binary) is made on first
// use, so that pods without host ports never pay for it.
type hostPorts struct {
	// bridge names the bridge whose pods these rules serve. The chains
	// are shared by every cricketd on the host (tests run several); each
	// pod's jump rule carries its bridge, so that one daemon's Collect
	// leaves other daemons' pods alone.
	bridge string
	mu     sync.Mutex
	ipt    *iptables.IPTables
	// base holds the subnets whose shared rules exist.
	base map[string]bool
}

func (h *hostPorts) handle() (*iptables.IPTables, error) {
	if h.ipt != nil {
		return h.ipt, nil
	}
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return nil, fmt.Errorf("iptables (needed for host ports and ip_masq of the built-in bridge): %w: %w", err, errdefs.ErrFailedPrecondition)
	}
	h.ipt = ipt
	h.base = map[string]bool{}
	return ipt, nil
}

// ensureBase creates the shared chains and the rules for the bridge and a
// subnet, once per daemon life (AppendUnique makes a restart harmless).
func (h *hostPorts) ensureBase(subnet *net.IPNet, ipMasq bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	bridge := h.bridge
	key := subnet.String()
	if h.base[key] {
		return nil
	}
	ipt, err := h.handle()
	if err != nil {
		return err
	}
	type rule struct {
		table, chain string
		args         []string
	}
	rules := []rule{
		{"nat", "PREROUTING", []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", chainHostPorts}},
		{"nat", "OUTPUT", []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", chainHostPorts}},
		{"nat", "POSTROUTING", []string{"-j", chainPostrouting}},
		{"nat", chainPostrouting, []string{"-m", "mark", "--mark", masqMark, "-j", "MASQUERADE"}},
		{"filter", "FORWARD", []string{"-j", chainForward}},
		{"filter", chainForward, []string{"-i", bridge, "-j", "ACCEPT"}},
		{"filter", chainForward, []string{"-o", bridge, "-j", "ACCEPT"}},
	}
	if ipMasq {
		rules = append(rules, rule{"nat", chainPostrouting, []string{"-s", subnet.String(), "!", "-d", subnet.String(), "-j", "MASQUERADE"}})
	}
	for _, c := range []struct{ table, chain string }{{"nat", chainHostPorts}, {"nat", chainPostrouting}, {"filter", chainForward}} {
		if err := ensureChain(ipt, c.table, c.chain); err != nil {
			return err
		}
	}
	for _, r := range rules {
		if err := ipt.AppendUnique(r.table, r.chain, r.args...); err != nil {
			return fmt.Errorf("iptables -t %s -A %s %s: %w", r.table, r.chain, strings.Join(r.args, " "), err)
		}
	}
	h.base[key] = true
	return nil
}

func ensureChain(ipt *iptables.IPTables, table, chain string) error {
	ok, err := ipt.ChainExists(table, chain)
	if err != nil {
		return fmt.Errorf("iptables -t %s: list chains: %w", table, err)
	}
	if !ok {
		if err := ipt.NewChain(table, chain); err != nil {
			return fmt.Errorf("iptables -t %s -N %s: %w", table, chain, err)
		}
	}
	return nil
}

// podChain names the chain of one sandbox (iptables allows 28 characters).
func podChain(sandboxID string) string {
	id := sandboxID
	if len(id) > 16 {
		id = id[:16]
	}
	return chainPodPrefix + id
}

// Add forwards the pod's host ports to podIP. Any old chain of the same
// sandbox is replaced.
func (h *hostPorts) Add(sandboxID string, podIP net.IP, ports []PortMapping) error {
	var rules [][]string
	for _, p := range ports {
		if p.HostPort <= 0 {
			continue
		}
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		match := []string{"-p", proto, "--dport", strconv.Itoa(int(p.HostPort))}
		if p.HostIP != "" && p.HostIP != "0.0.0.0" {
			ip := net.ParseIP(p.HostIP)
			if ip == nil || ip.To4() == nil {
				return fmt.Errorf("host port %d: host IP %q is not an IPv4 address (the built-in bridge is IPv4 only): %w", p.HostPort, p.HostIP, errdefs.ErrInvalidArgument)
			}
			match = append(match, "-d", ip.String())
		}
		to := net.JoinHostPort(podIP.String(), strconv.Itoa(int(p.ContainerPort)))
		rules = append(rules,
			append(append([]string{}, match...), "-s", "127.0.0.0/8", "-j", "MARK", "--set-xmark", masqMark),
			append(append([]string{}, match...), "-s", podIP.String()+"/32", "-j", "MARK", "--set-xmark", masqMark),
			append(append([]string{}, match...), "-j", "DNAT", "--to-destination", to),
		)
	}
	if len(rules) == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ipt, err := h.handle()
	if err != nil {
		return err
	}
	chain := podChain(sandboxID)
	if err := ipt.ClearChain("nat", chain); err != nil { // creates it, or empties it
		return fmt.Errorf("iptables -t nat -N %s: %w", chain, err)
	}
	for _, r := range rules {
		if err := ipt.Append("nat", chain, r...); err != nil {
			return fmt.Errorf("iptables -t nat -A %s %s: %w", chain, strings.Join(r, " "), err)
		}
	}
	if err := ipt.AppendUnique("nat", chainHostPorts, h.jump(sandboxID)...); err != nil {
		return fmt.Errorf("iptables -t nat -A %s -j %s: %w", chainHostPorts, chain, err)
	}
	return nil
}

// Remove deletes the sandbox's forwarding. Without iptables, or without
// any rule of the sandbox, there is nothing to do.
func (h *hostPorts) Remove(sandboxID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ipt, err := h.handle()
	if err != nil {
		return nil // nothing can have been added
	}
	return h.removePodChain(ipt, podChain(sandboxID), sandboxID)
}

// jump is the rule that sends the host port traffic of a sandbox to its
// chain; its comment names the sandbox and the bridge (see parseJump).
func (h *hostPorts) jump(sandboxID string) []string {
	return []string{"-m", "comment", "--comment", "sandbox " + sandboxID + " bridge " + h.bridge, "-j", podChain(sandboxID)}
}

func (h *hostPorts) removePodChain(ipt *iptables.IPTables, chain, sandboxID string) error {
	exists, err := ipt.ChainExists("nat", chain)
	if err != nil {
		return fmt.Errorf("iptables -t nat: list chains: %w", err)
	}
	if !exists {
		return nil
	}
	if err := ipt.DeleteIfExists("nat", chainHostPorts, h.jump(sandboxID)...); err != nil {
		return fmt.Errorf("iptables -t nat -D %s -j %s: %w", chainHostPorts, chain, err)
	}
	if err := ipt.ClearAndDeleteChain("nat", chain); err != nil {
		return fmt.Errorf("iptables -t nat -X %s: %w", chain, err)
	}
	return nil
}

// Collect removes the chains of this bridge's sandboxes not in known. It
// does nothing when iptables was never used and no chain of cricket's
// exists.
func (h *hostPorts) Collect(known map[string]bool) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ipt, err := h.handle()
	if err != nil {
		return nil, nil
	}
	exists, err := ipt.ChainExists("nat", chainHostPorts)
	if err != nil || !exists {
		return nil, err
	}
	// The jump rules carry the full sandbox ID in their comment.
	rules, err := ipt.List("nat", chainHostPorts)
	if err != nil {
		return nil, fmt.Errorf("iptables -t nat -S %s: %w", chainHostPorts, err)
	}
	var removed []string
	var errs []error
	for _, r := range rules {
		j, ok := parseJump(r)
		if !ok || j.bridge != h.bridge || known[j.sandboxID] {
			continue
		}
		removed = append(removed, j.chain)
		errs = append(errs, h.removePodChain(ipt, j.chain, j.sandboxID))
	}
	return removed, errors.Join(errs...)
}

// jumpRule is what parseJump reads from a sandbox's jump rule.
type jumpRule struct{ sandboxID, bridge, chain string }

// parseJump reads `-A CRICKET-HOSTPORTS -m comment --comment "sandbox ID
// bridge NAME" -j CHAIN` as iptables -S prints it.
func parseJump(rule string) (jumpRule, bool) {
	var j jumpRule
	f := strings.Fields(strings.ReplaceAll(rule, `"`, ""))
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "--comment":
			if f[i+1] == "sandbox" && i+2 < len(f) {
				j.sandboxID = f[i+2]
				if i+4 < len(f) && f[i+3] == "bridge" {
					j.bridge = f[i+4]
				}
			}
		case "-j":
			j.chain = f[i+1]
		}
	}
	return j, j.sandboxID != "" && strings.HasPrefix(j.chain, chainPodPrefix)
}
