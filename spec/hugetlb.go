package spec

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/cricket-cri/cricket/internal/cgroup"
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
	return hostHugetlbSizes(cgroup.Host(), "/sys/kernel/mm/hugepages")
})

// hostHugetlbSizes reads the page sizes of the hierarchy's hugetlb
// controller and the kernel's huge page pools under mmDir.
func hostHugetlbSizes(h cgroup.Hierarchy, mmDir string) []string {
	if ok, err := h.HasController("hugetlb"); err != nil || !ok {
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
