package sandbox

import (
	"testing"

	"github.com/containerd/errdefs"
)

func TestValidateSysctl(t *testing.T) {
	for _, tc := range []struct {
		key              string
		hostNet, hostIPC bool
		ok               bool
	}{
		{key: "net.ipv4.ip_unprivileged_port_start", ok: true},
		{key: "net/ipv4/conf/eth0.100/forwarding", ok: true},
		{key: "kernel.shm_rmid_forced", ok: true},
		{key: "fs.mqueue.msg_max", ok: true},
		{key: "net.ipv4.ip_forward", hostNet: true},
		{key: "kernel.shmmax", hostIPC: true},
		{key: "kernel.pid_max"},
		{key: "kernel.hostname"},
		// Paths that leave the network directory for a host-wide sysctl.
		{key: "net/../kernel/core_pattern"},
		{key: "net/./../../etc/passwd"},
		{key: "net..ipv4.ip_forward"},
		{key: "net/ipv4//ip_forward"},
		{key: ""},
	} {
		err := validateSysctl(tc.key, tc.hostNet, tc.hostIPC)
		if tc.ok && err != nil {
			t.Errorf("%q: %v, want accepted", tc.key, err)
		}
		if !tc.ok && !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q (host net %v, host IPC %v): %v, want InvalidArgument", tc.key, tc.hostNet, tc.hostIPC, err)
		}
	}
}

func TestNetDeviceSysctl(t *testing.T) {
	for key, want := range map[string]bool{
		"net.ipv4.conf.eth0.arp_announce":     true,
		"net/ipv4/conf/eth0.100/forwarding":   true,
		"net.ipv6.neigh.eth0.retrans_time_ms": true,
		"net.ipv4.conf.all.arp_announce":      false,
		"net.ipv6.conf.default.disable_ipv6":  false,
		"net.ipv4.ip_unprivileged_port_start": false,
		"net.core.somaxconn":                  false,
		"kernel.shm_rmid_forced":              false,
		"net.ipv4.conf":                       false,
	} {
		if got := netDeviceSysctl(key); got != want {
			t.Errorf("netDeviceSysctl(%q) = %v, want %v", key, got, want)
		}
	}
}
