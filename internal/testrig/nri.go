package testrig

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var nriPluginBuild struct {
	once sync.Once
	path string
	err  error
}

// NRIPlugin builds the test NRI plugin (internal/testnri, on the NRI
// library's plugin stub) once per test binary and returns its path.
func NRIPlugin(tb testing.TB) string {
	tb.Helper()
	nriPluginBuild.once.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		repo := filepath.Join(filepath.Dir(here), "..", "..")
		path := filepath.Join(repo, "bin", "testnri", "testnri")
		cmd := exec.Command("go", "build", "-o", path, "./internal/testnri")
		cmd.Dir = repo
		if b, err := cmd.CombinedOutput(); err != nil {
			nriPluginBuild.err = fmt.Errorf("build the test NRI plugin: %v\n%s", err, b)
			return
		}
		nriPluginBuild.path = path
	})
	if nriPluginBuild.err != nil {
		tb.Fatal(nriPluginBuild.err)
	}
	return nriPluginBuild.path
}
