package testrig

import (
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"
)

// What a kubelet changes on the host beyond its own directories, and the
// rig puts back when the last test kubelet of the process stops: the
// sysctls it sets at start-up (it would refuse to start with
// protectKernelDefaults instead), and the iptables chains it creates
// (KUBE-FIREWALL drops traffic to 127.0.0.0/8 from other sources, which a
// later test on this host must not inherit).
var kubeletHost struct {
	mu      sync.Mutex
	running int
	sysctls map[string][]byte
	chains  map[string][]string // "<protocol> <table>" -> chains before
}

// kubeletIPTables are the IPv4 and IPv6 tables kubelet adds chains to.
func kubeletIPTables() map[string]*iptables.IPTables {
	out := map[string]*iptables.IPTables{}
	for name, p := range map[string]iptables.Protocol{"ipv4": iptables.ProtocolIPv4, "ipv6": iptables.ProtocolIPv6} {
		if ipt, err := iptables.NewWithProtocol(p); err == nil {
			out[name] = ipt
		}
	}
	return out
}

var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

var kubeletTables = []string{"filter", "nat", "mangle"}

// kubeletStarting records the host's state before the first of the
// process's kubelets starts.
func kubeletStarting() {
	kubeletHost.mu.Lock()
	defer kubeletHost.mu.Unlock()
	kubeletHost.running++
	if kubeletHost.running > 1 {
		return
	}
	kubeletHost.sysctls = map[string][]byte{}
	for _, s := range kubeletSysctls {
		if b, err := os.ReadFile("/proc/sys/" + s); err == nil {
			kubeletHost.sysctls[s] = b
		}
	}
	kubeletHost.chains = map[string][]string{}
	for proto, ipt := range kubeletIPTables() {
		for _, t := range kubeletTables {
			kubeletHost.chains[proto+" "+t], _ = ipt.ListChains(t)
		}
	}
}

// kubeletStopped restores the host once the last kubelet stopped.
func kubeletStopped() {
	kubeletHost.mu.Lock()
	defer kubeletHost.mu.Unlock()
	kubeletHost.running--
	if kubeletHost.running > 0 {
		return
	}
	for s, v := range kubeletHost.sysctls {
		os.WriteFile("/proc/sys/"+s, v, 0o644)
	}
	for proto, ipt := range kubeletIPTables() {
		for _, t := range kubeletTables {
			now, _ := ipt.ListChains(t)
			for _, c := range now {
				if !strings.HasPrefix(c, "KUBE-") || slices.Contains(kubeletHost.chains[proto+" "+t], c) {
					continue
				}
				for _, from := range []string{"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"} {
					for {
						if ok, err := ipt.Exists(t, from, "-j", c); err != nil || !ok {
							break
						}
						if ipt.Delete(t, from, "-j", c) != nil {
							break
						}
					}
				}
				ipt.ClearAndDeleteChain(t, c)
			}
		}
	}
}
