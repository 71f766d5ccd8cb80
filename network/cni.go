package network

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	gocni "github.com/containerd/go-cni"
)

// Attach adds the pod to the CNI network (ADD).
func (c *CNIConfig) Attach(ctx context.Context, pod Pod) (*Attachment, error) {
	cni, err := c.Current()
	if err != nil {
		return nil, fmt.Errorf("network not ready: %w: %w", err, errdefs.ErrFailedPrecondition)
	}
	opts, err := cniOptions(pod)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.context(ctx)
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
func (c *CNIConfig) Detach(ctx context.Context, pod Pod) error {
	cni, err := c.Current()
	if err != nil {
		return fmt.Errorf("cni del for sandbox %s: network config not loaded: %w: %w", pod.SandboxID, err, errdefs.ErrFailedPrecondition)
	}
	opts, err := cniOptions(pod)
	if err != nil {
		return err
	}
	ctx, cancel := c.context(ctx)
	defer cancel()
	if err := cni.Remove(ctx, pod.SandboxID, pod.NetNSPath, opts...); err != nil {
		return fmt.Errorf("cni del for pod %s/%s (sandbox %s): %w", pod.Namespace, pod.Name, pod.SandboxID, err)
	}
	return nil
}

func cniOptions(pod Pod) ([]gocni.NamespaceOpts, error) {
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
	if cidr := pod.PodCIDR; cidr != "" {
		var ranges [][]gocni.IPRanges
		for _, c := range strings.Split(cidr, ",") {
			ranges = append(ranges, []gocni.IPRanges{{Subnet: strings.TrimSpace(c)}})
		}
		opts = append(opts, gocni.WithCapability("ipRanges", ranges))
	}
	return opts, nil
}

// Collect does nothing: CNI plugins keep their own state, released by DEL.
func (c *CNIConfig) Collect(context.Context, map[string]bool) error { return nil }

// cniContext bounds one CNI operation; a plugin still running when it ends
// is killed (libcni execs plugins with this context).
func (c *CNIConfig) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if t := c.opts.Timeout; t > 0 {
		return context.WithTimeout(ctx, t)
	}
	return ctx, func() {}
}
