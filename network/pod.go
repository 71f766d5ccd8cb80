package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
	// PodCIDR is the node's pod CIDR from kubelet, if it set one (filled
	// in by the Manager).
	PodCIDR string
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

// Attach brings up loopback in the pod's namespace and attaches the pod
// through the backend. On error the caller must Detach to release what a
// failed attach may have allocated.
func (m *Manager) Attach(ctx context.Context, pod Pod) (*Attachment, error) {
	if err := m.backend.Ready(); err != nil {
		return nil, fmt.Errorf("network not ready: %w: %w", err, errdefs.ErrFailedPrecondition)
	}
	if err := loopbackUp(pod.NetNSPath); err != nil {
		return nil, err
	}
	pod.PodCIDR = m.PodCIDR()
	return m.backend.Attach(ctx, pod)
}

// Detach removes the pod from the network, releasing its address. Safe to
// repeat, and works when the namespace is already gone (after a reboot).
func (m *Manager) Detach(ctx context.Context, pod Pod) error {
	pod.PodCIDR = m.PodCIDR()
	return m.backend.Detach(ctx, pod)
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
