package sandbox

import (
	"strings"
	"unicode"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/invalidarg"
)

// maxHostnameBytes is the kernel's limit on a hostname (HOST_NAME_MAX):
// sethostname refuses longer ones.
const maxHostnameBytes = 64

// validateFiles checks what RunPodSandbox writes into the pod's
// /etc/hostname, /etc/hosts and resolv.conf. Each value is one word of a
// line there: whitespace would add words (another host alias, another
// option) and a line break or NUL would add lines of the client's
// choosing.
func validateFiles(cfg *runtime.PodSandboxConfig) error {
	if h := cfg.GetHostname(); h != "" {
		if len(h) > maxHostnameBytes {
			return invalidarg.Errorf("config.hostname %q is %d bytes long; the kernel takes at most %d", shorten(h), len(h), maxHostnameBytes)
		}
		if err := oneWord("config.hostname", h); err != nil {
			return err
		}
	}
	dns := cfg.GetDnsConfig()
	for field, values := range map[string][]string{
		"config.dns_config.servers":  dns.GetServers(),
		"config.dns_config.searches": dns.GetSearches(),
		"config.dns_config.options":  dns.GetOptions(),
	} {
		for i, v := range values {
			if v == "" {
				return invalidarg.Errorf("%s[%d] is empty", field, i)
			}
			if err := oneWord(field, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// oneWord refuses whitespace and control characters (NUL, line breaks).
func oneWord(field, v string) error {
	if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return invalidarg.Errorf("%s %q contains whitespace or a control character (a line break, NUL), which would change the file it is written to", field, shorten(v))
	}
	return nil
}
