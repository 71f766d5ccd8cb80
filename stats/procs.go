package stats

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/moby/sys/mountinfo"
)

// Processes are the process counts of a cgroup.
type Processes struct {
	Processes       uint64 // processes (thread group leaders)
	Threads         uint64
	ThreadsMax      uint64 // 0 = unlimited
	FileDescriptors uint64
	Sockets         uint64
}

// ReadProcesses counts a cgroup's processes, threads and open files. It
// walks /proc for the cgroup's processes, so it is for metrics scrapes,
// not for the stats hot path.
func ReadProcesses(cgroupPath string) Processes {
	var p Processes
	dir := cgroupDir("pids", cgroupPath)
	pids := readLines(filepath.Join(dir, "cgroup.procs"))
	p.Processes = uint64(len(pids))
	p.Threads = uint64(len(readLines(filepath.Join(dir, "tasks"))))
	if cgroups.Mode() == cgroups.Unified {
		p.Threads = readUint(filepath.Join(dir, "pids.current"))
	}
	if v := strings.TrimSpace(readFile(filepath.Join(dir, "pids.max"))); v != "" && v != "max" {
		p.ThreadsMax, _ = strconv.ParseUint(v, 10, 64)
	}
	for _, pid := range pids {
		fds, err := os.ReadDir(filepath.Join("/proc", pid, "fd"))
		if err != nil {
			continue
		}
		p.FileDescriptors += uint64(len(fds))
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc", pid, "fd", fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
				p.Sockets++
			}
		}
	}
	return p
}

// cgroupDir is a cgroup's directory for a v1 controller (or the unified
// hierarchy).
func cgroupDir(controller, cgroupPath string) string {
	if cgroups.Mode() == cgroups.Unified {
		return filepath.Join("/sys/fs/cgroup", cgroupPath)
	}
	return filepath.Join("/sys/fs/cgroup", controller, cgroupPath)
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func readUint(p string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimSpace(readFile(p)), 10, 64)
	return v
}

func readLines(p string) []string {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// DeviceOf names the device holding path: the source of the mount it is
// on, as /proc/self/mountinfo says ("/dev/vda", "overlay"...; read by
// moby/sys/mountinfo, octal escapes undone).
func DeviceOf(path string) string {
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		return ""
	}
	best, dev := "", ""
	for _, m := range infos {
		mp := m.Mountpoint
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
			best, dev = mp, m.Source
		}
	}
	return dev
}

// BlockDeviceName is "/dev/<name>" of a block device number, or
// "major:minor" when sysfs does not say.
func BlockDeviceName(major, minor uint64) string {
	for _, line := range readLines(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", major, minor)) {
		if name, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return "/dev/" + name
		}
	}
	return fmt.Sprintf("%d:%d", major, minor)
}
