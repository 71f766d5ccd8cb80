package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	gocni "github.com/containerd/go-cni"
	cnins "github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// Pod is what the network layer needs to attach or detach one pod.
type Pod struct {
	SandboxID string
	Name      string
	Namespace string
	UID       string
	NetNSPath string
	Ports     []PortMapping
	// Annotations carry kubernetes.io/{ingress,egress}-bandwidth.
	Annotations map[string]string
}

// PortMapping is a host port (HostPort > 0) forwarded to the pod.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	Protocol      string // tcp, udp or sctp
	HostIP        string
}

// Attachment is the result of attaching a pod: its addresses and the raw CNI
// result, which is recorded with the sandbox.
type Attachment struct {
	IP            string
	AdditionalIPs []string
	CNIResult     json.RawMessage
}

// NetNSDir is where pod network namespaces are pinned.
func (m *Manager) NetNSDir() string { return m.netnsDir }

// Attach brings up loopback in the pod's namespace and adds the pod to the
// CNI network. On error the caller must Detach to release what a failed
// plugin chain may have allocated.
func (m *Manager) Attach(ctx context.Context, pod Pod) (*Attachment, error) {
	cni, err := m.cni.Current()
	if err != nil {
		return nil, fmt.Errorf("network not ready: %w: %w", err, errdefs.ErrFailedPrecondition)
	}
	if err := loopbackUp(pod.NetNSPath); err != nil {
		return nil, err
	}
	opts, err := m.cniOptions(pod)
	if err != nil {
		return nil, err
	}
	ctx, cancel := m.cniContext(ctx)
	defer cancel()
	res, err := cni.Setup(ctx, pod.SandboxID, pod.NetNSPath, opts...)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (no answer within cni.timeout): %w", err, ctx.Err())
		}
		return nil, fmt.Errorf("cni add for pod %s/%s (sandbox %s): %w", pod.Namespace, pod.Name, pod.SandboxID, err)
	}
	return attachmentOf(res)
}

// Detach removes the pod from the CNI network (CNI DEL), releasing its
// address. Safe to repeat, and works when the namespace is already gone
// (after a reboot): IPAM still releases the address.
func (m *Manager) Detach(ctx context.Context, pod Pod) error {
	cni, err := m.cni.Current()
	if err != nil {
		return fmt.Errorf("cni del for sandbox %s: network config not loaded: %w: %w", pod.SandboxID, err, errdefs.ErrFailedPrecondition)
	}
	opts, err := m.cniOptions(pod)
	if err != nil {
		return err
	}
	ctx, cancel := m.cniContext(ctx)
	defer cancel()
	if err := cni.Remove(ctx, pod.SandboxID, pod.NetNSPath, opts...); err != nil {
		return fmt.Errorf("cni del for pod %s/%s (sandbox %s): %w", pod.Namespace, pod.Name, pod.SandboxID, err)
	}
	return nil
}

func (m *Manager) cniOptions(pod Pod) ([]gocni.NamespaceOpts, error) {
	opts := []gocni.NamespaceOpts{gocni.WithLabels(map[string]string{
		"IgnoreUnknown":              "1",
		"K8S_POD_NAMESPACE":          pod.Namespace,
		"K8S_POD_NAME":               pod.Name,
		"K8S_POD_INFRA_CONTAINER_ID": pod.SandboxID,
		"K8S_POD_UID":                pod.UID,
	})}
	var pms []gocni.PortMapping
	for _, p := range pod.Ports {
		if p.HostPort <= 0 {
			continue // container-only ports need no host plumbing
		}
		pms = append(pms, gocni.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: strings.ToLower(p.Protocol), HostIP: p.HostIP})
	}
	if len(pms) > 0 {
		opts = append(opts, gocni.WithCapabilityPortMap(pms))
	}
	bw, err := bandwidthOf(pod.Annotations)
	if err != nil {
		return nil, err
	}
	if bw != nil {
		opts = append(opts, gocni.WithCapabilityBandWidth(*bw))
	}
	if cidr := m.PodCIDR(); cidr != "" {
		var ranges [][]gocni.IPRanges
		for _, c := range strings.Split(cidr, ",") {
			ranges = append(ranges, []gocni.IPRanges{{Subnet: strings.TrimSpace(c)}})
		}
		opts = append(opts, gocni.WithCapability("ipRanges", ranges))
	}
	return opts, nil
}

// attachmentOf picks the pod's addresses from the CNI result: the first
// IPv4 address of the pod's interfaces is primary (IPv6 if there is none).
func attachmentOf(res *gocni.Result) (*Attachment, error) {
	raw, err := json.Marshal(res.Raw())
	if err != nil {
		return nil, err
	}
	a := &Attachment{CNIResult: raw}
	var v4, v6 []string
	for name, iface := range res.Interfaces {
		if iface.Sandbox == "" || name == "lo" {
			continue // host-side interfaces
		}
		for _, ipc := range iface.IPConfigs {
			if ipc.IP.To4() != nil {
				v4 = append(v4, ipc.IP.String())
			} else {
				v6 = append(v6, ipc.IP.String())
			}
		}
	}
	all := append(v4, v6...)
	if len(all) == 0 {
		return nil, errors.New("cni result has no pod address")
	}
	a.IP, a.AdditionalIPs = all[0], all[1:]
	return a, nil
}

// loopbackUp sets lo up inside the namespace, in-process (no plugin exec).
func loopbackUp(nsPath string) error {
	return cnins.WithNetNSPath(nsPath, func(cnins.NetNS) error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("loopback in %s: %w", nsPath, err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set loopback up in %s: %w", nsPath, err)
		}
		return nil
	})
}

// OrphanNetNS lists pinned namespaces in the netns directory that are not
// in known (paths in use by sandboxes).
func (m *Manager) OrphanNetNS(known map[string]bool) []string {
	ents, err := os.ReadDir(m.netnsDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		p := filepath.Join(m.netnsDir, e.Name())
		if !known[p] {
			out = append(out, p)
		}
	}
	return out
}

// cniContext bounds one CNI operation; a plugin still running when it ends
// is killed (libcni execs plugins with this context).
func (m *Manager) cniContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if t := m.cni.opts.Timeout; t > 0 {
		return context.WithTimeout(ctx, t)
	}
	return ctx, func() {}
}
