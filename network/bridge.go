package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// BridgeOptions configure the built-in bridge backend.
type BridgeOptions struct {
	// Name is the Linux bridge the pods' veths are enslaved to.
	Name string
	// Subnet is the IPv4 pod subnet (its first host is the bridge's
	// address and the pods' gateway) unless kubelet sets a pod CIDR.
	Subnet string
	// MTU of the bridge and veths; 0 means 1500.
	MTU int
	// IPMasq masquerades pod traffic that leaves the subnet.
	IPMasq bool
	// DataDir holds the address allocations (one directory per bridge).
	DataDir string
	Log     *slog.Logger
}

// Bridge is the built-in network backend: everything a bridge + host-local
// + portmap CNI chain does, done in-process through netlink (and iptables
// for host ports), without executing a plugin per pod.
type Bridge struct {
	opts   BridgeOptions
	subnet *net.IPNet
	ipam   *ipam
	ports  hostPorts

	mu      sync.Mutex
	bridges map[string]bool // subnets whose bridge setup is done
}

// NewBridge checks the options; the bridge itself is set up with the first
// pod.
func NewBridge(opts BridgeOptions) (*Bridge, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	_, subnet, err := parseSubnet(opts.Subnet)
	if err != nil {
		return nil, fmt.Errorf("network.bridge.subnet: %w", err)
	}
	return &Bridge{
		opts:    opts,
		subnet:  subnet,
		ipam:    newIPAM(filepath.Join(opts.DataDir, opts.Name)),
		ports:   hostPorts{bridge: opts.Name},
		bridges: map[string]bool{},
	}, nil
}

func parseSubnet(s string) (net.IP, *net.IPNet, error) {
	ip, n, err := net.ParseCIDR(strings.TrimSpace(s))
	if err != nil {
		return nil, nil, err
	}
	if ip.To4() == nil {
		return nil, nil, fmt.Errorf("%s is not an IPv4 subnet (the built-in bridge is IPv4 only)", s)
	}
	if ones, _ := n.Mask.Size(); ones > 30 {
		return nil, nil, fmt.Errorf("%s is too small for pods", s)
	}
	n.IP = n.IP.To4()
	return ip, n, nil
}

// Ready: the built-in backend needs no configuration file.
func (b *Bridge) Ready() error { return nil }

// Close has nothing to release: the bridge and the rules stay for the
// pods that outlive cricketd.
func (b *Bridge) Close() {}

// vethName is the host side of the sandbox's veth: derived from the ID, so
// that Detach and Collect find it without a record.
func vethName(sandboxID string) string {
	id := sandboxID
	if len(id) > 13 {
		id = id[:13]
	}
	return "ck" + id
}

// subnetFor is the pool of this pod: kubelet's pod CIDR (its first IPv4
// range) when set, else the configured subnet.
func (b *Bridge) subnetFor(pod Pod) (*net.IPNet, error) {
	for _, c := range strings.Split(pod.PodCIDR, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if _, n, err := parseSubnet(c); err == nil {
			return n, nil
		}
	}
	return b.subnet, nil
}

func gatewayOf(subnet *net.IPNet) net.IP {
	gw := make(net.IP, 4)
	copy(gw, subnet.IP.To4())
	gw[3]++
	return gw
}

// ensureBridge creates the bridge (once per subnet and daemon life, and
// again if it was deleted behind cricket's back), gives it the gateway
// address and makes the host forward.
func (b *Bridge) ensureBridge(subnet *net.IPNet, needIPTables bool) (netlink.Link, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	br, err := netlink.LinkByName(b.opts.Name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		la := netlink.NewLinkAttrs()
		la.Name, la.MTU = b.opts.Name, b.opts.MTU
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create bridge %s: %w", b.opts.Name, err)
		}
		delete(b.bridges, subnet.String())
		br, err = netlink.LinkByName(b.opts.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", b.opts.Name, err)
	}
	if _, ok := br.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("%s exists and is a %s, not a bridge: %w", b.opts.Name, br.Type(), errdefs.ErrFailedPrecondition)
	}
	if !b.bridges[subnet.String()] {
		ones, _ := subnet.Mask.Size()
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: gatewayOf(subnet), Mask: net.CIDRMask(ones, 32)}}
		if err := netlink.AddrReplace(br, addr); err != nil {
			return nil, fmt.Errorf("address %s on bridge %s: %w", addr.IPNet, b.opts.Name, err)
		}
		if err := netlink.LinkSetUp(br); err != nil {
			return nil, fmt.Errorf("set bridge %s up: %w", b.opts.Name, err)
		}
		// Forwarding for pod traffic; route_localnet so that a host port
		// on 127.0.0.1 can be DNATed to a pod behind the bridge.
		for _, s := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/" + b.opts.Name + "/route_localnet"} {
			if err := os.WriteFile(s, []byte("1"), 0o644); err != nil {
				return nil, fmt.Errorf("enable %s: %w", s, err)
			}
		}
		b.bridges[subnet.String()] = true
	}
	if needIPTables || b.opts.IPMasq {
		if err := b.ports.ensureBase(subnet, b.opts.IPMasq); err != nil {
			return nil, err
		}
	}
	return br, nil
}

// Attach connects the pod: a veth pair between the bridge and the pod's
// eth0, an address from the IPAM, a default route via the bridge, host
// ports and bandwidth limits.
func (b *Bridge) Attach(ctx context.Context, pod Pod) (*Attachment, error) {
	bw, err := bandwidthOf(pod.Annotations)
	if err != nil {
		return nil, err
	}
	subnet, err := b.subnetFor(pod)
	if err != nil {
		return nil, err
	}
	br, err := b.ensureBridge(subnet, hasHostPorts(pod.Ports))
	if err != nil {
		return nil, err
	}
	ip, err := b.ipam.Allocate(subnet, pod.SandboxID)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s (sandbox %s): %w", pod.Namespace, pod.Name, pod.SandboxID, err)
	}
	ns, err := netns.GetFromPath(pod.NetNSPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", pod.NetNSPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", pod.NetNSPath, err)
	}
	defer h.Close()

	host := vethName(pod.SandboxID)
	la := netlink.NewLinkAttrs()
	la.Name, la.MTU, la.MasterIndex = host, b.opts.MTU, br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: la, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("create veth %s for sandbox %s: %w", host, pod.SandboxID, err)
	}
	hostLink, err := netlink.LinkByName(host)
	if err != nil {
		return nil, fmt.Errorf("veth %s: %w", host, err)
	}
	// Hairpin: a pod may reach itself through its host port.
	if err := netlink.LinkSetHairpin(hostLink, true); err != nil {
		return nil, fmt.Errorf("hairpin on %s: %w", host, err)
	}
	if err := netlink.LinkSetUp(hostLink); err != nil {
		return nil, fmt.Errorf("set %s up: %w", host, err)
	}

	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return nil, fmt.Errorf("eth0 in %s: %w", pod.NetNSPath, err)
	}
	ones, _ := subnet.Mask.Size()
	podNet := &net.IPNet{IP: ip, Mask: net.CIDRMask(ones, 32)}
	if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: podNet}); err != nil {
		return nil, fmt.Errorf("address %s on eth0 of sandbox %s: %w", podNet, pod.SandboxID, err)
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return nil, fmt.Errorf("set eth0 of sandbox %s up: %w", pod.SandboxID, err)
	}
	gw := gatewayOf(subnet)
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw}); err != nil {
		return nil, fmt.Errorf("default route via %s in sandbox %s: %w", gw, pod.SandboxID, err)
	}
	if bw != nil {
		if err := limitBandwidth(h, eth0, hostLink, bw.IngressRate, bw.EgressRate); err != nil {
			return nil, fmt.Errorf("bandwidth of sandbox %s: %w", pod.SandboxID, err)
		}
	}
	if err := b.ports.Add(pod.SandboxID, ip, pod.Ports); err != nil {
		return nil, fmt.Errorf("host ports of sandbox %s: %w", pod.SandboxID, err)
	}

	raw, err := json.Marshal(b.result(br, hostLink, eth0, pod.NetNSPath, podNet, gw))
	if err != nil {
		return nil, err
	}
	return &Attachment{IP: ip.String(), CNIResult: raw}, nil
}

// result describes the attachment in the CNI result format, so that
// PodSandboxStatus's verbose info reads the same in both modes.
func (b *Bridge) result(br, host, eth0 netlink.Link, nsPath string, podNet *net.IPNet, gw net.IP) *current.Result {
	idx := 2
	_, def, _ := net.ParseCIDR("0.0.0.0/0")
	return &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{
			{Name: br.Attrs().Name, Mac: br.Attrs().HardwareAddr.String()},
			{Name: host.Attrs().Name, Mac: host.Attrs().HardwareAddr.String()},
			{Name: "eth0", Mac: eth0.Attrs().HardwareAddr.String(), Sandbox: nsPath},
		},
		IPs:    []*current.IPConfig{{Interface: &idx, Address: *podNet, Gateway: gw}},
		Routes: []*cnitypes.Route{{Dst: *def, GW: gw}},
	}
}

func hasHostPorts(ports []PortMapping) bool {
	for _, p := range ports {
		if p.HostPort > 0 {
			return true
		}
	}
	return false
}

// Detach deletes the veth (its peer goes with it), the host port rules
// and the address. Each step tolerates what is already gone.
func (b *Bridge) Detach(ctx context.Context, pod Pod) error {
	var errs []error
	if l, err := netlink.LinkByName(vethName(pod.SandboxID)); err == nil {
		if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete veth %s of sandbox %s: %w", l.Attrs().Name, pod.SandboxID, err))
		}
	}
	// Only a pod with host ports has a chain (its port mappings never
	// change); skipping the others saves an iptables run per pod. Chains
	// of sandboxes that are gone are found by Collect.
	if hasHostPorts(pod.Ports) {
		if err := b.ports.Remove(pod.SandboxID); err != nil {
			errs = append(errs, fmt.Errorf("host ports of sandbox %s: %w", pod.SandboxID, err))
		}
	}
	if err := b.ipam.Release(pod.SandboxID); err != nil {
		errs = append(errs, fmt.Errorf("address of sandbox %s: %w", pod.SandboxID, err))
	}
	return errors.Join(errs...)
}

// Collect frees addresses, veths and host port chains of sandboxes not in
// known.
func (b *Bridge) Collect(ctx context.Context, known map[string]bool) error {
	var errs []error
	freed, err := b.ipam.Collect(known)
	errs = append(errs, err)
	for _, f := range freed {
		b.opts.Log.Warn("released address without a sandbox", "address", f)
	}
	vethOwners := map[string]bool{}
	for id := range known {
		vethOwners[vethName(id)] = true
	}
	if br, err := netlink.LinkByName(b.opts.Name); err == nil {
		links, err := netlink.LinkList()
		errs = append(errs, err)
		for _, l := range links {
			a := l.Attrs()
			if a.MasterIndex != br.Attrs().Index || l.Type() != "veth" || !strings.HasPrefix(a.Name, "ck") || vethOwners[a.Name] {
				continue
			}
			b.opts.Log.Warn("deleting veth without a sandbox", "veth", a.Name)
			if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				errs = append(errs, fmt.Errorf("delete veth %s: %w", a.Name, err))
			}
		}
	}
	chains, err := b.ports.Collect(known)
	errs = append(errs, err)
	for _, c := range chains {
		b.opts.Log.Warn("removed host port chain without a sandbox", "chain", c)
	}
	return errors.Join(errs...)
}
