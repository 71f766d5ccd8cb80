package testrig

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cricket-cri/cricket/config"
)

// PodNetwork is a CNI network of one test daemon: its own bridge, subnet
// and IPAM directory, so parallel tests do not share addresses and a leak
// check sees only this test's allocations.
type PodNetwork struct {
	Bridge  string
	Subnet  string // e.g. 10.247.3.0/24
	Gateway string // e.g. 10.247.3.1
	IPAMDir string // host-local's data dir: one file per allocated address
	// FailADD adds a plugin after bridge and portmap that fails every ADD,
	// after the bridge has already allocated an address; HangADD one that
	// never answers an ADD.
	FailADD, HangADD bool
	// Builtin makes the daemon use cricket's built-in bridge backend
	// (network.mode = "bridge") on Bridge and Subnet instead of CNI.
	Builtin bool
}

var subnetSeq atomic.Int32

// subnetLockDir holds one lock file per 10.247.N.0/24 a test process
// uses: test binaries run at once (go test runs packages in parallel, and
// several checkouts may test on one host) must not route the same subnet
// to two bridges. A lock lasts as long as its process.
const subnetLockDir = "/run/cricket-testrig-subnets"

// claimSubnet returns the next N whose lock this process could take.
func claimSubnet() int32 {
	subnetMu.Lock()
	defer subnetMu.Unlock()
	os.MkdirAll(subnetLockDir, 0o755)
	inUse := subnetsOnHost()
	for range 254 {
		n := (subnetSeq.Add(1)-1)%254 + 1
		if inUse[n] {
			continue // a bridge left by a test process that was killed
		}
		f, err := os.OpenFile(filepath.Join(subnetLockDir, fmt.Sprint(n)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return n // no locking possible: as before, by sequence only
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			heldSubnets = append(heldSubnets, f) // held until the process ends
			return n
		}
		f.Close()
	}
	panic("testrig: every 10.247.N.0/24 is held by other test processes")
}

// subnetsOnHost returns the N of every 10.247.N.0/24 a host interface
// has an address in.
func subnetsOnHost() map[int32]bool {
	out := map[int32]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip := ipn.IP.To4(); ip != nil && ip[0] == 10 && ip[1] == 247 {
				out[int32(ip[2])] = true
			}
		}
	}
	return out
}

var (
	subnetMu    sync.Mutex
	heldSubnets []*os.File
)

// NewPodNetwork picks a fresh bridge name and subnet; StartDaemon puts its
// IPAM directory under the daemon's directory.
func NewPodNetwork() *PodNetwork {
	n := claimSubnet()
	var b [4]byte
	rand.Read(b[:])
	return &PodNetwork{
		Bridge:  "ck" + hex.EncodeToString(b[:]),
		Subnet:  fmt.Sprintf("10.247.%d.0/24", n),
		Gateway: fmt.Sprintf("10.247.%d.1", n),
	}
}

// conflist renders the network as the CNI config cricket loads: bridge with
// host-local IPAM, then portmap (host ports, including on 127.0.0.1).
func (n *PodNetwork) conflist() []byte {
	plugins := []map[string]any{
		{
			"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
			"ipam": map[string]any{
				"type": "host-local", "dataDir": n.IPAMDir,
				"ranges": [][]map[string]string{{{"subnet": n.Subnet}}},
				"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
			},
		},
		{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
	}
	if n.FailADD {
		plugins = append(plugins, map[string]any{"type": "ck-fail"})
	}
	if n.HangADD {
		plugins = append(plugins, map[string]any{"type": "ck-hang"})
	}
	b, _ := json.Marshal(map[string]any{"cniVersion": "1.0.0", "name": "ck-" + n.Bridge, "plugins": plugins})
	return b
}

// configure points the daemon's config at the network: the built-in
// bridge, or (install) a CNI conflist.
func (n *PodNetwork) configure(cfg *config.Config) {
	if !n.Builtin {
		return
	}
	cfg.Network.Mode = config.NetworkModeBridge
	cfg.Network.Bridge.Name = n.Bridge
	cfg.Network.Bridge.Subnet = n.Subnet
	// Tests send traffic only inside their own subnets.
	cfg.Network.Bridge.IPMasq = false
	n.IPAMDir = filepath.Join(cfg.Root, "network", "ipam")
}

// install writes the conflist (and the failing plugin, if asked) for a
// daemon whose CNI conf dir is confDir; binDir is added to its plugin path.
func (n *PodNetwork) install(tb testing.TB, confDir, binDir string) {
	tb.Helper()
	if n.Builtin {
		return
	}
	if n.IPAMDir == "" {
		n.IPAMDir = filepath.Join(filepath.Dir(confDir), "ipam")
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if n.HangADD {
		os.MkdirAll(binDir, 0o755)
		hang := "#!/bin/sh\ncase \"$CNI_COMMAND\" in\nADD) exec sleep 3600;;\nVERSION) echo '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"1.0.0\"]}';;\nesac\nexit 0\n"
		if err := os.WriteFile(filepath.Join(binDir, "ck-hang"), []byte(hang), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if n.FailADD {
		os.MkdirAll(binDir, 0o755)
		script := `#!/bin/sh
case "$CNI_COMMAND" in
ADD) echo '{"cniVersion":"1.0.0","code":999,"msg":"injected ADD failure"}'; exit 1;;
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}';;
esac
exit 0
`
		if err := os.WriteFile(filepath.Join(binDir, "ck-fail"), []byte(script), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(confDir, "10-test.conflist"), n.conflist(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Reinstall rewrites the daemon's CNI config after the network's settings
// changed (cricket picks it up without a restart).
func (n *PodNetwork) Reinstall(tb testing.TB, d *Daemon) {
	tb.Helper()
	n.install(tb, d.Config.CNI.ConfDir, filepath.Join(d.Dir, "cni-bin"))
}

// Allocations lists the addresses host-local (or the built-in IPAM) holds;
// a directory that cannot be listed fails the test.
func (n *PodNetwork) Allocations(tb testing.TB) []string {
	tb.Helper()
	out, err := n.allocations()
	if err != nil {
		tb.Fatalf("list address allocations: %v", err)
	}
	return out
}

func (n *PodNetwork) allocations() ([]string, error) {
	dir := filepath.Join(n.IPAMDir, "ck-"+n.Bridge)
	if n.Builtin {
		dir = filepath.Join(n.IPAMDir, n.Bridge)
	}
	names, err := dirEntries(dir, false)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names {
		if name != "lock" && name[0] != '.' && !isLastReserved(name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func isLastReserved(name string) bool { return len(name) > 14 && name[:14] == "last_reserved_" }

// remove deletes the bridge (veths went with their namespaces).
func (n *PodNetwork) remove() {
	exec.Command("ip", "link", "del", n.Bridge).Run()
	if n.Builtin {
		// The built-in bridge's shared forwarding rules name the bridge.
		for _, dir := range []string{"-i", "-o"} {
			exec.Command("iptables", "-w", "-D", "CRICKET-FORWARD", dir, n.Bridge, "-j", "ACCEPT").Run()
		}
	}
}
