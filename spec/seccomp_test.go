package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestValidateSeccomp(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}`)
	notJSON := write("bad.json", "defaultAction: allow\n")
	wrongShape := write("shape.json", `{"defaultAction": 5}`)
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	local := func(p string) *runtime.SecurityProfile {
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: p}
	}
	for _, tc := range []struct {
		name       string
		profile    *runtime.SecurityProfile
		privileged bool
		want       string
	}{
		{name: "none"},
		{name: "runtime default", profile: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}},
		{name: "good", profile: local(good)},
		{name: "missing", profile: local(filepath.Join(dir, "missing.json")), want: "no such file"},
		{name: "missing but privileged", profile: local(filepath.Join(dir, "missing.json")), privileged: true},
		{name: "relative", profile: local("good.json"), want: "absolute"},
		{name: "not JSON", profile: local(notJSON), want: "not a JSON seccomp profile"},
		{name: "wrong shape", profile: local(wrongShape), want: "not a JSON seccomp profile"},
		{name: "directory", profile: local(dir), want: "not a regular file"},
		{name: "FIFO", profile: local(fifo), want: "not a regular file"},
	} {
		err := ValidateSeccomp("security_context.seccomp", tc.profile, tc.privileged)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case tc.want != "" && (!errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "security_context.seccomp")):
			t.Errorf("%s: %v, want InvalidArgument naming the field and saying %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckPodAllows(t *testing.T) {
	hostPID := &runtime.NamespaceOption{Pid: runtime.NamespaceMode_NODE}
	podPID := &runtime.NamespaceOption{Pid: runtime.NamespaceMode_POD}
	for _, tc := range []struct {
		name string
		ctr  *runtime.LinuxContainerSecurityContext
		pod  *runtime.LinuxSandboxSecurityContext
		want string
	}{
		{name: "plain"},
		{name: "privileged in privileged pod", ctr: &runtime.LinuxContainerSecurityContext{Privileged: true}, pod: &runtime.LinuxSandboxSecurityContext{Privileged: true}},
		{name: "privileged in plain pod", ctr: &runtime.LinuxContainerSecurityContext{Privileged: true}, want: "privileged"},
		{name: "host PID in host-PID pod", ctr: &runtime.LinuxContainerSecurityContext{NamespaceOptions: hostPID}, pod: &runtime.LinuxSandboxSecurityContext{NamespaceOptions: hostPID}},
		{name: "host PID in plain pod", ctr: &runtime.LinuxContainerSecurityContext{NamespaceOptions: hostPID}, want: "namespace_options.pid"},
		{name: "host PID in pod-PID pod", ctr: &runtime.LinuxContainerSecurityContext{NamespaceOptions: hostPID}, pod: &runtime.LinuxSandboxSecurityContext{NamespaceOptions: podPID}, want: "namespace_options.pid"},
		{name: "pod PID in host-PID pod", ctr: &runtime.LinuxContainerSecurityContext{NamespaceOptions: podPID}, pod: &runtime.LinuxSandboxSecurityContext{NamespaceOptions: hostPID}},
	} {
		err := CheckPodAllows(tc.ctr, tc.pod)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case tc.want != "" && (!errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want InvalidArgument naming %q", tc.name, err, tc.want)
		}
	}
}
