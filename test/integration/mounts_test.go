package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// hostDir makes a directory on the host that is its own mount point, with
// the given propagation (unix.MS_SHARED, MS_PRIVATE...), undone at the end.
func hostDir(t *testing.T, propagation uintptr) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ck-mnt-")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", dir, "", propagation|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Unmount(dir, unix.MNT_DETACH)
		os.RemoveAll(dir)
	})
	return dir
}

func TestMountsPropagationAndVolumes(t *testing.T) {
	forEachHandler(t, testMountsPropagationAndVolumes)
}

func testMountsPropagationAndVolumes(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := d.Image(t, "vol:1", testrig.ImageSpec{
		Volumes: []string{"/data"},
		Files:   map[string]string{"/data/seed": "from the image\n"},
	})
	pod := podConfig("mounts")
	pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{Privileged: true}
	podID := runPodOn(t, d, pod, handler)
	mk := func(name string, privileged bool, mounts ...*runtime.Mount) string {
		cfg := ctrConfig(name, img, "sleep", "3600")
		cfg.Mounts = mounts
		if privileged {
			cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Privileged: true}
		}
		return runContainer(t, d, podID, pod, cfg)
	}

	t.Run("readonly, symlinked and missing host paths", func(t *testing.T) {
		src := t.TempDir()
		os.WriteFile(filepath.Join(src, "f"), []byte("host file\n"), 0o644)
		link := filepath.Join(t.TempDir(), "link")
		os.Symlink(src, link)
		missing := filepath.Join(t.TempDir(), "created", "by", "cricket")
		c := mk("basic", false,
			&runtime.Mount{HostPath: src, ContainerPath: "/ro", Readonly: true},
			&runtime.Mount{HostPath: link, ContainerPath: "/vialink"},
			&runtime.Mount{HostPath: missing, ContainerPath: "/new"},
		)
		if got := execOut(t, d, c, "cat", "/ro/f"); got != "host file" {
			t.Errorf("readonly mount content %q", got)
		}
		if _, errOut, code := execSync(t, d, c, "touch", "/ro/x"); code == 0 || !strings.Contains(errOut, "Read-only") {
			t.Errorf("readonly mount writable: %d %q", code, errOut)
		}
		if got := execOut(t, d, c, "cat", "/vialink/f"); got != "host file" {
			t.Errorf("mount through a symlinked host path: %q", got)
		}
		execOut(t, d, c, "touch", "/new/made-in-container")
		if _, err := os.Stat(filepath.Join(missing, "made-in-container")); err != nil {
			t.Errorf("missing host path not created as a directory: %v", err)
		}
		st, _ := d.Runtime.ContainerStatus(d.Ctx(), &runtime.ContainerStatusRequest{ContainerId: c})
		if len(st.Status.Mounts) != 3 || st.Status.Mounts[0].ContainerPath != "/ro" || !st.Status.Mounts[0].Readonly {
			t.Errorf("status mounts %v", st.Status.Mounts)
		}
	})

	t.Run("image volume seeded from the image", func(t *testing.T) {
		c := mk("volume", false)
		if got := execOut(t, d, c, "cat", "/data/seed"); got != "from the image" {
			t.Errorf("image volume content %q", got)
		}
		if got := execOut(t, d, c, "sh", "-c", "grep ' /data ' /proc/self/mounts"); got == "" {
			t.Error("/data is not a volume mount")
		}
	})

	t.Run("propagation", func(t *testing.T) {
		private := hostDir(t, unix.MS_PRIVATE)
		slaveSrc := hostDir(t, unix.MS_SHARED)
		sharedSrc := hostDir(t, unix.MS_SHARED)
		c := mk("prop", true,
			&runtime.Mount{HostPath: private, ContainerPath: "/private", Propagation: runtime.MountPropagation_PROPAGATION_PRIVATE},
			&runtime.Mount{HostPath: slaveSrc, ContainerPath: "/slave", Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
			&runtime.Mount{HostPath: sharedSrc, ContainerPath: "/shared", Propagation: runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL},
		)
		// Host -> container.
		for _, dir := range []string{private, slaveSrc, sharedSrc} {
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
			if err := unix.Mount("tmpfs", filepath.Join(dir, "sub"), "tmpfs", 0, ""); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "sub", "flag"), []byte("x"), 0o644)
			t.Cleanup(func() { unix.Unmount(filepath.Join(dir, "sub"), unix.MNT_DETACH) })
		}
		for path, want := range map[string]bool{"/private/sub/flag": false, "/slave/sub/flag": true, "/shared/sub/flag": true} {
			_, _, code := execSync(t, d, c, "cat", path)
			if (code == 0) != want {
				t.Errorf("host mount visible at %s: %v, want %v", path, code == 0, want)
			}
		}
		// Container -> host.
		for _, dir := range []string{"/private", "/slave", "/shared"} {
			execOut(t, d, c, "sh", "-c", "mkdir -p "+dir+"/cmnt && mount -t tmpfs none "+dir+"/cmnt && touch "+dir+"/cmnt/from-ctr")
		}
		for dir, want := range map[string]bool{private: false, slaveSrc: false, sharedSrc: true} {
			_, err := os.Stat(filepath.Join(dir, "cmnt", "from-ctr"))
			if (err == nil) != want {
				t.Errorf("container mount visible on the host under %s: %v, want %v", dir, err == nil, want)
			}
			unix.Unmount(filepath.Join(dir, "cmnt"), unix.MNT_DETACH)
		}
		// Bidirectional needs a shared host mount.
		cfg := ctrConfig("badprop", img, "true")
		cfg.Mounts = []*runtime.Mount{{HostPath: private, ContainerPath: "/x", Propagation: runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL}}
		cfg.Linux.SecurityContext = &runtime.LinuxContainerSecurityContext{Privileged: true}
		_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
		wantCode(t, err, codes.FailedPrecondition)
	})

	t.Run("recursive read-only", func(t *testing.T) {
		src := hostDir(t, unix.MS_PRIVATE)
		os.Mkdir(filepath.Join(src, "sub"), 0o755)
		if err := unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(filepath.Join(src, "sub"), unix.MNT_DETACH) })
		rro := handlerFeatures(t, d, handler).GetRecursiveReadOnlyMounts()
		if !rro && handler == cricketHandler {
			// libcontainer makes rro mounts itself (mount_setattr).
			t.Error("cricket's shim does not advertise recursive read-only mounts")
		}
		plain := mk("ro-plain", false, &runtime.Mount{HostPath: src, ContainerPath: "/m", Readonly: true})
		execOut(t, d, plain, "touch", "/m/sub/ok") // plain ro covers only the top mount
		if !rro {
			t.Log("runtime does not support recursive read-only mounts; checking rejection only")
		} else {
			c := mk("rro", false, &runtime.Mount{HostPath: src, ContainerPath: "/m", Readonly: true, RecursiveReadOnly: true})
			if _, errOut, code := execSync(t, d, c, "touch", "/m/sub/no"); code == 0 || !strings.Contains(errOut, "Read-only") {
				t.Errorf("rro submount writable: %d %q", code, errOut)
			}
		}
		for name, m := range map[string]*runtime.Mount{
			"rro without readonly": {HostPath: src, ContainerPath: "/m", RecursiveReadOnly: true},
			"rro with rslave":      {HostPath: src, ContainerPath: "/m", Readonly: true, RecursiveReadOnly: true, Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
			"relative container":   {HostPath: src, ContainerPath: "m"},
		} {
			cfg := ctrConfig("bad", img, "true")
			cfg.Mounts = []*runtime.Mount{m}
			_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
			if codeOf(err) != codes.InvalidArgument {
				t.Errorf("%s: %v, want InvalidArgument", name, err)
			}
		}
	})
}

func TestImageMount(t *testing.T) { forEachHandler(t, testImageMount) }

func testImageMount(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	data := d.Image(t, "data:1", testrig.ImageSpec{Files: map[string]string{"/payload/hello.txt": "hello from an image\n"}})
	podID := runPodOn(t, d, podConfig("imgmount"), handler)
	parent := "/ck-none"
	before := d.Resources(t, parent)
	cfg := ctrConfig("reader", img, "sleep", "3600")
	cfg.Mounts = []*runtime.Mount{
		{ContainerPath: "/img", Image: &runtime.ImageSpec{Image: data}},
		{ContainerPath: "/sub", Image: &runtime.ImageSpec{Image: data}, ImageSubPath: "payload"},
	}
	c := runContainer(t, d, podID, podConfig("imgmount"), cfg)
	if got := execOut(t, d, c, "cat", "/img/payload/hello.txt"); got != "hello from an image" {
		t.Errorf("image mount content %q", got)
	}
	if got := execOut(t, d, c, "cat", "/sub/hello.txt"); got != "hello from an image" {
		t.Errorf("image sub path content %q", got)
	}
	if _, errOut, code := execSync(t, d, c, "touch", "/img/x"); code == 0 || !strings.Contains(errOut, "Read-only") {
		t.Errorf("image mount writable: %d %q", code, errOut)
	}
	if _, err := d.Runtime.RemoveContainer(d.Ctx(), &runtime.RemoveContainerRequest{ContainerId: c}); err != nil {
		t.Fatal(err)
	}
	if diff := before.Diff(d.Resources(t, parent)); diff != "" {
		t.Errorf("removing a container with image mounts left:\n%s", diff)
	}
	bad := ctrConfig("escape", img, "true")
	bad.Mounts = []*runtime.Mount{{ContainerPath: "/x", Image: &runtime.ImageSpec{Image: data}, ImageSubPath: "../.."}}
	_, err := d.Runtime.CreateContainer(d.Ctx(), &runtime.CreateContainerRequest{PodSandboxId: podID, Config: bad})
	wantCode(t, err, codes.InvalidArgument)
}
