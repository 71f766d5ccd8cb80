package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// secCtr creates and starts a sleeping container with a security context.
func secCtr(t *testing.T, d *testrig.Daemon, podID string, pod *runtime.PodSandboxConfig, img, name string, sc *runtime.LinuxContainerSecurityContext) string {
	t.Helper()
	cfg := ctrConfig(name, img, "sleep", "3600")
	cfg.Linux.SecurityContext = sc
	return runContainer(t, d, podID, pod, cfg)
}

func TestSecurityContext(t *testing.T) { forEachHandler(t, testSecurityContext) }

func testSecurityContext(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := d.Image(t, "sec:1", testrig.ImageSpec{
		Files: map[string]string{
			"/etc/group":   "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\nextra:x:5000:www-data\n",
			"/secret":      "top secret\n",
			"/ro/file":     "x\n",
			"/masked/dir/": "",
		},
	})
	pod := podConfig("sec")
	pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{Privileged: true}
	podID := runPodOn(t, d, pod, handler)

	t.Run("users", func(t *testing.T) {
		c := secCtr(t, d, podID, pod, img, "uid", &runtime.LinuxContainerSecurityContext{RunAsUser: &runtime.Int64Value{Value: 1001}, RunAsGroup: &runtime.Int64Value{Value: 1002}})
		if got := execOut(t, d, c, "id"); !strings.HasPrefix(got, "uid=1001 gid=1002") {
			t.Errorf("run_as_user/group: %q", got)
		}
		c = secCtr(t, d, podID, pod, img, "uname", &runtime.LinuxContainerSecurityContext{RunAsUsername: "www-data"})
		if got := execOut(t, d, c, "id"); !strings.HasPrefix(got, "uid=33(www-data) gid=33(www-data)") {
			t.Errorf("run_as_username www-data: %q", got)
		}
		if st := containerStatus(t, d, c); st.User.GetLinux().GetUid() != 33 || st.User.GetLinux().GetGid() != 33 {
			t.Errorf("status user %v", st.User)
		}
		cfg := ctrConfig("group-only", img, "sleep", "1")
		cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{RunAsGroup: &runtime.Int64Value{Value: 5}}
		_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
		wantCode(t, err, codes.InvalidArgument)
	})

	t.Run("supplemental groups", func(t *testing.T) {
		merge := secCtr(t, d, podID, pod, img, "merge", &runtime.LinuxContainerSecurityContext{RunAsUsername: "www-data", SupplementalGroups: []int64{1234}})
		// The kernel keeps supplementary groups sorted.
		if got := execOut(t, d, merge, "id", "-G"); got != "33 1234 5000" {
			t.Errorf("Merge policy groups %q, want 33 1234 5000", got)
		}
		if st := containerStatus(t, d, merge); fmt.Sprint(st.User.GetLinux().GetSupplementalGroups()) != "[33 5000 1234]" {
			t.Errorf("status groups %v", st.User.GetLinux().GetSupplementalGroups())
		}
		strict := secCtr(t, d, podID, pod, img, "strict", &runtime.LinuxContainerSecurityContext{RunAsUsername: "www-data", SupplementalGroups: []int64{1234},
			SupplementalGroupsPolicy: runtime.SupplementalGroupsPolicy_Strict})
		if got := execOut(t, d, strict, "id", "-G"); got != "33 1234" {
			t.Errorf("Strict policy groups %q, want 33 1234", got)
		}
	})

	t.Run("capabilities", func(t *testing.T) {
		plain := secCtr(t, d, podID, pod, img, "plain", nil)
		if _, _, code := execSync(t, d, plain, "ip", "link", "set", "lo", "mtu", "1400"); code == 0 {
			t.Error("NET_ADMIN is in the default capability set")
		}
		added := secCtr(t, d, podID, pod, img, "netadmin", &runtime.LinuxContainerSecurityContext{Capabilities: &runtime.Capability{AddCapabilities: []string{"NET_ADMIN"}}})
		execOut(t, d, added, "ip", "link", "set", "lo", "mtu", "1400")
		dropped := secCtr(t, d, podID, pod, img, "nochown", &runtime.LinuxContainerSecurityContext{Capabilities: &runtime.Capability{DropCapabilities: []string{"CHOWN"}}})
		if _, errOut, code := execSync(t, d, dropped, "chown", "nobody", "/tmp"); code == 0 || !strings.Contains(errOut, "Operation not permitted") {
			t.Errorf("chown without CAP_CHOWN: exit %d %q", code, errOut)
		}
		none := secCtr(t, d, podID, pod, img, "noall", &runtime.LinuxContainerSecurityContext{Capabilities: &runtime.Capability{DropCapabilities: []string{"ALL"}}})
		if got := execOut(t, d, none, "grep", "CapBnd", "/proc/self/status"); !strings.HasSuffix(got, "0000000000000000") {
			t.Errorf("drop ALL: %q", got)
		}
		all := secCtr(t, d, podID, pod, img, "all", &runtime.LinuxContainerSecurityContext{Capabilities: &runtime.Capability{AddCapabilities: []string{"ALL"}}})
		execOut(t, d, all, "ip", "link", "set", "lo", "mtu", "1400")
		cfg := ctrConfig("badcap", img, "true")
		cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Capabilities: &runtime.Capability{AddCapabilities: []string{"NOT_A_CAP"}}}
		_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
		wantCode(t, err, codes.InvalidArgument)
	})

	t.Run("masked and readonly paths", func(t *testing.T) {
		c := secCtr(t, d, podID, pod, img, "paths", &runtime.LinuxContainerSecurityContext{
			MaskedPaths: []string{"/secret", "/masked/dir"}, ReadonlyPaths: []string{"/ro"}})
		if out, _, _ := execSync(t, d, c, "cat", "/secret"); strings.Contains(out, "top secret") {
			t.Error("masked file readable")
		}
		if _, errOut, code := execSync(t, d, c, "touch", "/masked/dir/x"); code == 0 {
			t.Errorf("masked directory writable (%q)", errOut)
		}
		if _, errOut, code := execSync(t, d, c, "touch", "/ro/file"); code == 0 || !strings.Contains(errOut, "Read-only file system") {
			t.Errorf("readonly path writable: exit %d %q", code, errOut)
		}
		// Defaults apply when the lists are empty.
		def := secCtr(t, d, podID, pod, img, "defpaths", nil)
		if _, _, code := execSync(t, d, def, "sh", "-c", "echo 1 > /proc/sys/kernel/domainname"); code == 0 {
			t.Error("/proc/sys writable with default readonly paths")
		}
	})

	t.Run("readonly rootfs and no_new_privs", func(t *testing.T) {
		c := secCtr(t, d, podID, pod, img, "rorootfs", &runtime.LinuxContainerSecurityContext{ReadonlyRootfs: true, NoNewPrivs: true})
		if _, errOut, code := execSync(t, d, c, "touch", "/x"); code == 0 || !strings.Contains(errOut, "Read-only file system") {
			t.Errorf("readonly rootfs writable: exit %d %q", code, errOut)
		}
		if got := execOut(t, d, c, "grep", "NoNewPrivs", "/proc/self/status"); !strings.HasSuffix(got, "1") {
			t.Errorf("no_new_privs: %q", got)
		}
		rw := secCtr(t, d, podID, pod, img, "rwrootfs", nil)
		execOut(t, d, rw, "touch", "/x")
		if got := execOut(t, d, rw, "grep", "NoNewPrivs", "/proc/self/status"); !strings.HasSuffix(got, "0") {
			t.Errorf("no_new_privs off: %q", got)
		}
	})

	t.Run("seccomp", func(t *testing.T) {
		profile := filepath.Join(t.TempDir(), "block-chmod.json")
		os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod","fchmodat","fchmodat2"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
		local := secCtr(t, d, podID, pod, img, "seclocal", &runtime.LinuxContainerSecurityContext{
			Seccomp: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: profile}})
		if _, errOut, code := execSync(t, d, local, "chmod", "400", "/tmp"); code == 0 || !strings.Contains(errOut, "Operation not permitted") {
			t.Errorf("chmod under a profile blocking it: exit %d %q", code, errOut)
		}
		mode := regexp.MustCompile(`Seccomp:\s+(\d)`)
		for name, tc := range map[string]struct {
			p    *runtime.SecurityProfile
			want string
		}{
			"secdefault": {&runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}, "2"},
			"secnone":    {&runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}, "0"},
			"secnil":     {nil, "0"},
		} {
			c := secCtr(t, d, podID, pod, img, name, &runtime.LinuxContainerSecurityContext{Seccomp: tc.p})
			if m := mode.FindStringSubmatch(execOut(t, d, c, "cat", "/proc/self/status")); m == nil || m[1] != tc.want {
				t.Errorf("%s: seccomp mode %v, want %s", name, m, tc.want)
			}
			// The default profile allows unshare only with CAP_SYS_ADMIN;
			// the kernel lets anyone make a user namespace.
			_, errOut, code := execSync(t, d, c, "unshare", "-U", "true")
			if filtered := code != 0 && strings.Contains(errOut, "Operation not permitted"); filtered != (tc.want == "2") {
				t.Errorf("%s: unshare -U: exit %d %q, want filtered %v", name, code, errOut, tc.want == "2")
			}
		}
		cfg := ctrConfig("apparmor", img, "true")
		cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Apparmor: &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}}
		_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
		if err == nil || !strings.Contains(err.Error(), "AppArmor") {
			t.Errorf("AppArmor profile on a host without AppArmor: %v", err)
		}
	})

	t.Run("privileged and devices", func(t *testing.T) {
		priv := secCtr(t, d, podID, pod, img, "priv", &runtime.LinuxContainerSecurityContext{Privileged: true})
		execOut(t, d, priv, "sh", "-c", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && umount /tmp/m")
		if got := execOut(t, d, priv, "sh", "-c", "grep ' /sys ' /proc/self/mounts"); !strings.Contains(got, "rw") {
			t.Errorf("privileged /sys not writable: %q", got)
		}
		cfg := ctrConfig("dev", img, "sleep", "3600")
		cfg.Devices = []*runtime.Device{{HostPath: "/dev/zero", ContainerPath: "/dev/myzero", Permissions: "r"}}
		dev := runContainer(t, d, podID, pod, cfg)
		if got := execOut(t, d, dev, "sh", "-c", "head -c 4 /dev/myzero | od -An -tx1"); got != "00 00 00 00" {
			t.Errorf("mapped device read %q", got)
		}
		// A privileged container needs a privileged pod.
		plainPod := podConfig("unpriv")
		plainID := runPodOn(t, d, plainPod, handler)
		pc := ctrConfig("priv2", img, "true")
		pc.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Privileged: true}
		_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: plainID, Config: pc, SandboxConfig: plainPod})
		wantCode(t, err, codes.InvalidArgument)
	})
}
