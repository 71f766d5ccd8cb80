package sandbox

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxNameBytes bounds a pod's name, namespace and UID and a container's
// name: the longest name Kubernetes has (an RFC 1123 subdomain, which pod
// names are).
const MaxNameBytes = 253

// ValidateName checks a name in a config's metadata: at most MaxNameBytes,
// and no control characters, which no Kubernetes name has and which
// break what the name is written into (CNI arguments, log lines).
func ValidateName(field, s string) error {
	switch {
	case len(s) > MaxNameBytes:
		return invalid("%s %q is %d bytes long, more than the %d allowed", field, shorten(s), len(s), MaxNameBytes)
	case strings.ContainsFunc(s, unicode.IsControl):
		return invalid("%s %q contains a control character", field, s)
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
