package sandbox

import (
	"fmt"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/cricket-cri/cricket/internal/invalidarg"
)

// Limits on the metadata of a pod or container config. Every list, status
// and event response repeats an object's labels, annotations and
// metadata, so one object carrying megabytes of them would make those
// responses too large for any client (see also internal/listbudget for the
// sum over all objects). The limits are Kubernetes' own, loosened only
// where kubelet itself goes beyond them.
const (
	// MaxAnnotationsBytes bounds the annotations of one object, keys
	// and values together: Kubernetes' limit for an object's
	// annotations (TotalAnnotationSizeLimitB), which kubelet copies to a
	// pod's sandbox config unchanged.
	MaxAnnotationsBytes = 256 << 10
	// MaxLabelsBytes bounds the labels of one object, keys and values
	// together. Kubernetes bounds each label (a qualified-name key, a
	// value of at most 63 characters) but not their sum; this is the
	// annotations' limit, far above any real pod's labels.
	MaxLabelsBytes = 256 << 10
	// MaxNameBytes bounds a pod's name, namespace and UID and a
	// container's name: the longest name Kubernetes has (an RFC 1123
	// subdomain, which pod names are).
	MaxNameBytes = 253
	// podNameLabel is the label kubelet puts the pod's name in: a pod name
	// may be 253 characters long, above the 63 of a label value.
	podNameLabel = "io.kubernetes.pod.name"
)

// ValidateLabels checks the labels of a pod or container config as
// Kubernetes checks labels (a qualified-name key, a value of at most 63
// characters of [A-Za-z0-9_.-]; kubelet's pod name label may hold a whole
// pod name) and bounds their total size. These bounds also keep every
// label within what containerd accepts on a container (4 KiB each).
func ValidateLabels(field string, l map[string]string) error {
	total := 0
	for k, v := range l {
		total += len(k) + len(v)
	}
	if total > MaxLabelsBytes {
		return invalidarg.Errorf("%s: %d labels take %d bytes, more than the %d allowed", field, len(l), total, MaxLabelsBytes)
	}
	for k, v := range l {
		if errs := content.IsLabelKey(k); len(errs) > 0 {
			return invalidarg.Errorf("%s: key %q: %s", field, shorten(k), errs[0])
		}
		errs := content.IsLabelValue(v)
		if k == podNameLabel && len(errs) > 0 && len(content.IsDNS1123SubdomainCaseless(v)) == 0 {
			errs = nil
		}
		if len(errs) > 0 {
			return invalidarg.Errorf("%s[%q]: value %q (%d bytes): %s", field, k, shorten(v), len(v), errs[0])
		}
	}
	return nil
}

// ValidateAnnotations bounds the total size of the annotations of a pod or
// container config (or of an image spec) as Kubernetes bounds an object's
// annotations. Their keys are not checked: kubelet passes on keys that
// device plugins chose.
func ValidateAnnotations(field string, a map[string]string) error {
	total := 0
	for k, v := range a {
		total += len(k) + len(v)
	}
	if total > MaxAnnotationsBytes {
		return invalidarg.Errorf("%s: %d annotations take %d bytes, more than the %d allowed", field, len(a), total, MaxAnnotationsBytes)
	}
	return nil
}

// ValidateName checks a name in a config's metadata: at most MaxNameBytes,
// and no control characters, which no Kubernetes name has and which
// break what the name is written into (CNI arguments, log lines).
func ValidateName(field, s string) error {
	switch {
	case len(s) > MaxNameBytes:
		return invalidarg.Errorf("%s %q is %d bytes long, more than the %d allowed", field, shorten(s), len(s), MaxNameBytes)
	case strings.ContainsFunc(s, unicode.IsControl):
		return invalidarg.Errorf("%s %q contains a control character", field, s)
	}
	return nil
}

// shorten cuts s for an error message: a message must not repeat
// megabytes of a rejected request.
func shorten(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("...(%d bytes)", len(s))
}
