package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3"
)

// hugetlbSizes are the huge page sizes ("2MB", "1GB") whose limits a
// container's cgroup can hold on this host, read once. kubelet sends a
// limit for every page size the node has, whether or not the hugetlb
// controller is there; runc fails the container when it is not ("cannot
// set hugetlb limit"). On a cgroup v1 or hybrid host the controller must
// be mounted in the v1 hierarchy (a hybrid host may have it only on its
// v2 side, which runc does not use for limits); on a unified host it must
// be among the root's controllers. containerd's CRI plugin likewise drops
// the limits when the controller is missing.
var hugetlbSizes = sync.OnceValue(func() []string {
	return hostHugetlbSizes("/sys/fs/cgroup", cgroups.Mode() == cgroups.Unified, "/sys/kernel/mm/hugepages")
})

// hostHugetlbSizes reads the hugetlb controller's page sizes under
// cgroupRoot (unified: a v2 hierarchy there) and the kernel's huge page
// pools under mmDir.
func hostHugetlbSizes(cgroupRoot string, unified bool, mmDir string) []string {
	if unified {
		b, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
		if err != nil || !slices.Contains(strings.Fields(string(b)), "hugetlb") {
			return nil
		}
	} else if _, err := os.Stat(filepath.Join(cgroupRoot, "hugetlb")); err != nil {
		return nil
	}
	pools, err := os.ReadDir(mmDir)
	if err != nil {
		return nil
	}
	var sizes []string
	for _, p := range pools {
		// hugepages-2048kB
		kb, ok := strings.CutPrefix(p.Name(), "hugepages-")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(kb, "kB"), 10, 64)
		if err != nil || !strings.HasSuffix(kb, "kB") {
			continue
		}
		sizes = append(sizes, pageSizeName(n<<10))
	}
	return sizes
}

// pageSizeName names a page size of n bytes as kubelet and the cgroup
// files do: the largest binary unit that divides it ("2MB", "1GB", "64KB").
func pageSizeName(n uint64) string {
	units := []string{"B", "KB", "MB", "GB", "TB", "PB"}
	i := 0
	for i < len(units)-1 && n >= 1024 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return strconv.FormatUint(n, 10) + units[i]
}
