package spec

import (
	"strings"
	"testing"
)

func TestValidateCpuset(t *testing.T) {
	host := func() (string, error) { return "0-3,8-11", nil }
	for value, want := range map[string]string{
		"":           "",
		"0":          "",
		"0-3,8,10":   "",
		"2-3,9-11":   "",
		"3-8":        "4 is not online",
		"12":         "12 is not online",
		"0-":         "malformed",
		"-1":         "malformed",
		"3-1":        "malformed",
		"0,,1":       "malformed",
		"a":          "malformed",
		"+1":         "malformed",
		" 1":         "malformed",
		"0-99999999": "malformed",
	} {
		err := validateCpuset(value, host)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v, want accepted", value, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want an error saying %q", value, err, want)
		}
	}
}
