package container

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestValidateExecCmd(t *testing.T) {
	args := func(n, size int) []string {
		out := []string{"sh"}
		for range n {
			out = append(out, strings.Repeat("a", size))
		}
		return out
	}
	for name, tc := range map[string]struct {
		cmd   []string
		field string // "" when valid
	}{
		"probe":                    {[]string{"cat", "/tmp/healthy"}, ""},
		"executable at PATH_MAX":   {[]string{strings.Repeat("x", maxExecName)}, ""},
		"command at the bound":     {args(128, 1024)[:128], ""},
		"empty":                    {nil, "cmd"},
		"empty executable":         {[]string{"", "x"}, "cmd[0]"},
		"executable past PATH_MAX": {[]string{strings.Repeat("x", maxExecName+1)}, "cmd[0]"},
		"1 MiB executable":         {[]string{strings.Repeat("x", 1<<20)}, "cmd[0]"},
		"past the bound":           {args(128, 1024), "cmd"},
	} {
		err := validateExecCmd(tc.cmd)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.field != "" && (!errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), tc.field+" ")):
			t.Errorf("%s: %v, want InvalidArgument naming %s", name, err, tc.field)
		}
	}
}

func TestDescribeCmdIsShort(t *testing.T) {
	if got := describeCmd([]string{"echo", "hi"}); got != `["echo" "hi"]` {
		t.Errorf("short command described as %s", got)
	}
	if got := describeCmd([]string{"sh", "-c", strings.Repeat("é", 100<<10)}); len(got) > 300 || !strings.HasSuffix(got, "(3 arguments)") {
		t.Errorf("long command described in %d bytes: %.80s...", len(got), got)
	}
}
