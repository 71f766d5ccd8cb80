// Package testimages builds small OCI images from Debian's busybox-static
// binary and serves them from an in-process registry: the images of cricket's
// integration tests and benchmark (no internet registry is reachable).
package testimages

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec describes a test image: Debian's static busybox as the root
// filesystem, plus whatever the test needs to tell images apart.
type Spec struct {
	Entrypoint []string
	Cmd        []string // default ["sh"]
	Env        []string
	User       string
	WorkingDir string
	Volumes    []string
	StopSignal string
	Labels     map[string]string
	// Files adds a layer with these files (path -> content, mode 0644; a
	// path ending in "/" is a directory).
	Files map[string]string
	// Executables adds a layer with these host files copied in, mode 0755
	// (container path -> host path).
	Executables map[string]string
	// Symlinks adds symlinks to that layer (container path -> target).
	Symlinks map[string]string
}

var (
	baseOnce  sync.Once
	baseLayer v1.Layer
	baseErr   error
)

// busyboxLayer is the shared base layer: /bin/busybox with a symlink per
// applet, /etc/passwd and /etc/group, and the usual empty directories.
func busyboxLayer() (v1.Layer, error) {
	baseOnce.Do(func() {
		out, err := exec.Command("/bin/busybox", "--list").Output()
		if err != nil {
			baseErr = err
			return
		}
		bin, err := os.ReadFile("/bin/busybox")
		if err != nil {
			baseErr = err
			return
		}
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		mtime := time.Unix(1700000000, 0)
		for _, d := range []string{"bin/", "dev/", "etc/", "home/", "proc/", "root/", "sys/", "usr/", "usr/bin/", "var/", "var/run/", "var/log/"} {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime})
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: mtime})
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: mtime})
		tw.Write(bin)
		for _, applet := range strings.Fields(string(out)) {
			if applet == "busybox" {
				continue
			}
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: mtime})
		}
		files := map[string]string{
			"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
			"etc/group":  "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n",
		}
		for name, content := range files {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: mtime})
			tw.Write([]byte(content))
		}
		if err := tw.Close(); err != nil {
			baseErr = err
			return
		}
		baseLayer, baseErr = layerFromBytes(b.Bytes())
	})
	return baseLayer, baseErr
}

func layerFromBytes(tarball_ []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarball_)), nil
	})
}

// filesLayer builds a layer from in-memory files, copied host executables
// and symlinks.
func filesLayer(files, executables, symlinks map[string]string) (v1.Layer, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	mtime := time.Unix(1700000000, 0)
	for name, content := range files {
		name = strings.TrimPrefix(name, "/")
		if strings.HasSuffix(name, "/") {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: mtime})
			continue
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: mtime})
		tw.Write([]byte(content))
	}
	for name, host := range executables {
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, err
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(name, "/"), Mode: 0o755, Size: int64(len(data)), ModTime: mtime})
		tw.Write(data)
	}
	for name, target := range symlinks {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(name, "/"), Linkname: target, Mode: 0o777, ModTime: mtime})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return layerFromBytes(b.Bytes())
}

// BuildArch builds an image from spec for one architecture.
func BuildArch(spec Spec, arch string) (v1.Image, error) {
	base, err := busyboxLayer()
	if err != nil {
		return nil, err
	}
	layers := []v1.Layer{base}
	if len(spec.Files) > 0 || len(spec.Executables) > 0 || len(spec.Symlinks) > 0 {
		l, err := filesLayer(spec.Files, spec.Executables, spec.Symlinks)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cmd := spec.Cmd
	if cmd == nil && spec.Entrypoint == nil {
		cmd = []string{"sh"}
	}
	cfg := v1.Config{
		Entrypoint: spec.Entrypoint,
		Cmd:        cmd,
		Env:        append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, spec.Env...),
		User:       spec.User,
		WorkingDir: spec.WorkingDir,
		Labels:     spec.Labels,
		StopSignal: spec.StopSignal,
	}
	if len(spec.Volumes) > 0 {
		cfg.Volumes = map[string]struct{}{}
		for _, v := range spec.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Config = arch, "linux", cfg
	cf.Created = v1.Time{Time: time.Unix(1700000000, 0)}
	return mutate.ConfigFile(img, cf)
}

// Build builds a linux/amd64 image from spec.
func Build(spec Spec) (v1.Image, error) { return BuildArch(spec, "amd64") }

// Pause is the test sandbox image: busybox sh as PID 1, exiting on
// SIGTERM like the real pause, and otherwise sleeping forever.
func Pause() (v1.Image, error) {
	return Build(Spec{
		Entrypoint: []string{"/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done"},
		Labels:     map[string]string{"io.cricket.test": "pause"},
	})
}
