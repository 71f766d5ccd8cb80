package sandbox

import (
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// statusOverhead is what a PodSandboxStatus (or a ListPodSandbox entry)
// holds besides the config's metadata: the ID, timestamps, state and the
// pod's addresses. Generously counted: the budget's margin below the
// message limit covers the rest.
const statusOverhead = 1 << 10

// listedSize is the sandbox's share of the list budget: the largest form
// any response gives it (PodSandboxStatus; ListPodSandbox,
// ListPodSandboxStats and events carry the same or less), measured from
// the config, which is what a client can make large.
func listedSize(sb *Sandbox) int64 {
	cfg := sb.Config
	st := &runtime.PodSandboxStatus{
		Metadata:       cfg.GetMetadata(),
		Labels:         cfg.GetLabels(),
		Annotations:    cfg.GetAnnotations(),
		RuntimeHandler: sb.RuntimeHandler,
		Linux: &runtime.LinuxPodSandboxStatus{Namespaces: &runtime.Namespace{
			Options: cfg.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
	}
	return int64(proto.Size(st)) + statusOverhead
}
