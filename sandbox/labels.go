package sandbox

import (
	"strings"

	"github.com/containerd/containerd/v2/pkg/labels"
)

// Labels cricket puts on its containerd containers.
const (
	LabelKind      = "io.cricket.kind"
	LabelSandboxID = "io.cricket.sandbox-id"
	KindSandbox    = "sandbox"
	KindContainer  = "container"
	// labelCRIKind is the label containerd's CRI plugin marks its pause
	// containers with, and the one cAdvisor reads: kubelet's default
	// stats path takes a pod's network figures from cAdvisor, which
	// collects them only for the containerd container labelled a sandbox
	// (the one whose process holds the pod's network namespace).
	labelCRIKind = "io.cri-containerd.kind"
)

// ContainerdLabels are the labels of a containerd container of the given
// kind (KindSandbox for a pause container) in sandbox sandboxID: the CRI
// config's labels, as containerd's CRI plugin copies them (cAdvisor finds
// a pod's containers by kubelet's io.kubernetes.pod.* labels on them),
// then cricket's own, which no CRI label overrides.
func ContainerdLabels(kind, sandboxID string, cri map[string]string) map[string]string {
	out := make(map[string]string, len(cri)+3)
	for k, v := range cri {
		if !labels.IsReserved(k) && !strings.HasPrefix(k, "io.cricket.") {
			out[k] = v
		}
	}
	out[LabelKind], out[LabelSandboxID], out[labelCRIKind] = kind, sandboxID, kind
	return out
}
