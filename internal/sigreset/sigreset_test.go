package sigreset

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A signal ignored on entry is ignored no more after Inherited, in this
// process and in the children it starts; a kept one stays ignored.
func TestInheritedIgnoresAreReset(t *testing.T) {
	if os.Getenv("SIGRESET_CHILD") != "" {
		Inherited(unix.SIGHUP)
		out, err := exec.Command("grep", "SigIgn", "/proc/self/status").Output()
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.Write(out)
		return
	}
	// The shell ignores HUP, INT and 33 (trap ''), then starts this test
	// again, which inherits them ignored (Go keeps these as it finds them).
	cmd := exec.Command("sh", "-c", `trap '' HUP INT 33 && exec "$0" -test.run '^TestInheritedIgnoresAreReset$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "SIGRESET_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// SigIgn: bit n-1 for signal n. Only HUP (1) must be left.
	if !strings.Contains(string(out), "SigIgn:\t0000000000000001") {
		t.Errorf("child's child: %s, want only SIGHUP (0x1) ignored", out)
	}
}
