package testrig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var shimBuild struct {
	once sync.Once
	dir  string
	err  error
}

// ShimBuildTags are the build tags cricket's shim needs: "seccomp" links
// libseccomp (cgo) into libcontainer, without which it refuses every
// container whose spec has a seccomp profile (RuntimeDefault, Localhost);
// osusergo and netgo keep the C library's NSS out of the static link.
const ShimBuildTags = "seccomp osusergo netgo"

// ShimLDFlags link the shim statically, as the Makefile does.
const ShimLDFlags = `-extldflags "-static"`

// provideShim builds cricket's shim (cmd/containerd-shim-cricket-v1) once
// per test binary and puts its directory first in PATH, where the
// containerds the tests start (which inherit the environment) look for a
// runtime's shim binary.
func provideShim() error {
	shimBuild.once.Do(func() {
		_, here, _, _ := runtime.Caller(0)
		repo := filepath.Join(filepath.Dir(here), "..", "..")
		dir := filepath.Join(repo, "bin", "shim")
		cmd := exec.Command("go", "build", "-tags", ShimBuildTags, "-ldflags", ShimLDFlags, "-o", filepath.Join(dir, "containerd-shim-cricket-v1"), "./cmd/containerd-shim-cricket-v1")
		cmd.Dir = repo
		if b, err := cmd.CombinedOutput(); err != nil {
			shimBuild.err = fmt.Errorf("build cricket's shim: %v\n%s", err, b)
			return
		}
		shimBuild.dir = dir
		if !strings.HasPrefix(os.Getenv("PATH"), dir+":") {
			os.Setenv("PATH", dir+":"+os.Getenv("PATH"))
		}
	})
	return shimBuild.err
}

// ShimBinary returns the path of cricket's shim built for the tests.
func ShimBinary(tb testing.TB) string {
	tb.Helper()
	if err := provideShim(); err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(shimBuild.dir, "containerd-shim-cricket-v1")
}
