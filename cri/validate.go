package cri

import (
	"strings"
	"unicode"
)

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// checkID validates an object ID (or unique prefix) from a request. Unknown
// IDs are the domain's business (Stop and Remove of one succeed); IDs that
// no object can have are refused before anything looks them up.
func checkID(field, id string) error {
	switch {
	case id == "":
		return invalid("%s is required", field)
	case len(id) > 128:
		return invalid("%s is %d characters long; IDs have at most 128", field, len(id))
	case strings.ContainsFunc(id, func(r rune) bool { return r == '/' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		return invalid("%s %q contains characters no ID has", field, id)
	}
	return nil
}
