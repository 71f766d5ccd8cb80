package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// defaultShmSize is the size of a pod's /dev/shm, as in Docker and the
// other CRI runtimes.
const defaultShmSize = 64 << 20

// writeFiles writes the pod's hostname and resolv.conf (hosts comes after
// the network, when the pod IP is known).
func writeFiles(sb *Sandbox) error {
	if err := os.MkdirAll(sb.Dir, 0o755); err != nil {
		return err
	}
	hostname := sb.Config.GetHostname()
	if hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		hostname = h
	}
	if err := os.WriteFile(sb.HostnamePath(), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	resolv, err := resolvConf(sb.Config.GetDnsConfig())
	if err != nil {
		return err
	}
	return os.WriteFile(sb.ResolvConfPath(), resolv, 0o644)
}

// resolvConf renders the pod's DNS config, or returns the host's file when
// the pod has none.
func resolvConf(dns *runtime.DNSConfig) ([]byte, error) {
	if len(dns.GetServers()) == 0 && len(dns.GetSearches()) == 0 && len(dns.GetOptions()) == 0 {
		b, err := os.ReadFile("/etc/resolv.conf")
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	var b strings.Builder
	if len(dns.GetSearches()) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.GetSearches(), " "))
	}
	for _, s := range dns.GetServers() {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(dns.GetOptions()) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.GetOptions(), " "))
	}
	return []byte(b.String()), nil
}

// writeHosts writes /etc/hosts for the pod: localhost entries and the pod's
// address under its hostname; the host's file for host-network pods.
func writeHosts(sb *Sandbox, ip string) error {
	if sb.HostNetwork() {
		b, err := os.ReadFile("/etc/hosts")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return os.WriteFile(sb.HostsPath(), b, 0o644)
	}
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (cricket).\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if ip != "" && sb.Config.GetHostname() != "" {
		fmt.Fprintf(&b, "%s\t%s\n", ip, sb.Config.GetHostname())
	}
	return os.WriteFile(sb.HostsPath(), []byte(b.String()), 0o644)
}

// mountShm mounts the pod's private /dev/shm (a tmpfs) unless it shares the
// host's IPC namespace.
func mountShm(sb *Sandbox) error {
	if sb.HostIPC() {
		return nil
	}
	p := sb.ShmPath()
	if err := os.MkdirAll(p, 0o700); err != nil {
		return err
	}
	opts := fmt.Sprintf("mode=1777,size=%d", defaultShmSize)
	if err := unix.Mount("shm", p, "tmpfs", unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount pod /dev/shm at %s: %w", p, err)
	}
	return nil
}

// unmountShm unmounts the pod's /dev/shm; safe to repeat.
func unmountShm(sb *Sandbox) error {
	if sb.HostIPC() {
		return nil
	}
	p := sb.ShmPath()
	for {
		err := unix.Unmount(p, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil // not (or no longer) a mount point
		}
		if err != nil {
			return fmt.Errorf("unmount pod /dev/shm at %s: %w", p, err)
		}
	}
}

// removeFiles removes the pod's volatile directory (after unmountShm).
func removeFiles(sb *Sandbox) error {
	if err := unmountShm(sb); err != nil {
		return err
	}
	if err := unpinNamespaces(sb); err != nil {
		return err
	}
	return os.RemoveAll(sb.Dir)
}
