package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/errdefs"
)

// ipam hands out IPv4 addresses of a subnet to sandboxes and keeps the
// allocations on disk, one file per address named after it and holding
// the owner's sandbox ID. Creating the file with O_EXCL is the allocation,
// so it is atomic: after a crash an address is either taken by its owner
// or free. A crash between creating the file and writing the owner leaves
// an empty file, which Collect frees (its owner is no known sandbox).
//
// An in-memory index of owner -> address mirrors the directory (read once
// at start); one cricketd owns the directory (its socket lock ensures it).
type ipam struct {
	dir string

	mu     sync.Mutex
	loaded bool
	owners map[string]string // address -> sandbox ID
	next   map[string]uint32 // subnet -> where the next search starts
}

func newIPAM(dir string) *ipam {
	return &ipam{dir: dir, owners: map[string]string{}, next: map[string]uint32{}}
}

func (a *ipam) load() error {
	if a.loaded {
		return nil
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	ents, err := os.ReadDir(a.dir)
	if err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	for _, e := range ents {
		if net.ParseIP(e.Name()) == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(a.dir, e.Name()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("ipam: %w", err)
		}
		a.owners[e.Name()] = string(b)
	}
	a.loaded = true
	return nil
}

// Allocate gives owner a free host address of subnet, skipping the network
// address, the gateway (the first host) and the broadcast address. An owner
// that already holds an address of subnet gets it again.
func (a *ipam) Allocate(subnet *net.IPNet, owner string) (net.IP, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.load(); err != nil {
		return nil, err
	}
	for addr, o := range a.owners {
		if o == owner && subnet.Contains(net.ParseIP(addr)) {
			return net.ParseIP(addr).To4(), nil
		}
	}
	base := binary.BigEndian.Uint32(subnet.IP.To4())
	ones, bits := subnet.Mask.Size()
	size := uint32(1) << (bits - ones)
	if size < 4 {
		return nil, fmt.Errorf("ipam: subnet %s is too small: %w", subnet, errdefs.ErrInvalidArgument)
	}
	// Hosts are base+2 .. base+size-2 (base+1 is the gateway).
	first, last := uint32(2), size-2
	start := a.next[subnet.String()]
	if start < first || start > last {
		start = first
	}
	for i := uint32(0); i <= last-first; i++ {
		off := first + (start-first+i)%(last-first+1)
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, base+off)
		name := ip.String()
		if _, taken := a.owners[name]; taken {
			continue
		}
		f, err := os.OpenFile(filepath.Join(a.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			a.owners[name] = "" // someone wrote it behind our back; Collect decides
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ipam: allocate %s: %w", name, err)
		}
		_, werr := f.WriteString(owner)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(f.Name())
			return nil, fmt.Errorf("ipam: record owner of %s: %w", name, werr)
		}
		a.owners[name] = owner
		a.next[subnet.String()] = off + 1
		return ip, nil
	}
	return nil, fmt.Errorf("ipam: no free address left in %s: %w", subnet, errdefs.ErrResourceExhausted)
}

// Release frees every address owner holds. Releasing nothing is not an
// error.
func (a *ipam) Release(owner string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.load(); err != nil {
		return err
	}
	var errs []error
	for addr, o := range a.owners {
		if o == owner {
			errs = append(errs, a.free(addr))
		}
	}
	return errors.Join(errs...)
}

// Collect frees the addresses whose owner is not in known.
func (a *ipam) Collect(known map[string]bool) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.load(); err != nil {
		return nil, err
	}
	var freed []string
	var errs []error
	for addr, o := range a.owners {
		if !known[o] {
			freed = append(freed, addr+" ("+o+")")
			errs = append(errs, a.free(addr))
		}
	}
	return freed, errors.Join(errs...)
}

func (a *ipam) free(addr string) error {
	if err := os.Remove(filepath.Join(a.dir, addr)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ipam: release %s: %w", addr, err)
	}
	delete(a.owners, addr)
	return nil
}
