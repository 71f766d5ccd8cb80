package container

import (
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// statusOverhead is what a ContainerStatus holds besides what comes from
// the config: IDs, image references, timestamps, exit code, reason and
// message, user. Generously counted: the budget's margin below the
// message limit covers the rest.
const statusOverhead = 1 << 10

// listedSize is the container's share of the list budget: the largest
// form any response gives it (its ContainerStatus in PodSandboxStatus and
// in events; ListContainers and ListContainerStats carry less), measured
// from the config, which is what a client can make large.
func listedSize(c *Container) int64 {
	cfg := c.Config
	st := &runtime.ContainerStatus{
		Metadata:    cfg.GetMetadata(),
		Labels:      cfg.GetLabels(),
		Annotations: cfg.GetAnnotations(),
		Image:       cfg.GetImage(),
		Mounts:      cfg.GetMounts(),
		LogPath:     c.LogPath,
		Resources:   &runtime.ContainerResources{Linux: cfg.GetLinux().GetResources()},
	}
	return int64(proto.Size(st)) + statusOverhead
}
