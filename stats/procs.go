package stats

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/prometheus/procfs"

	"github.com/cricket-cri/cricket/internal/cgroup"
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
// not for the stats hot path. What cannot be read counts 0.
func ReadProcesses(cgroupPath string) Processes {
	var p Processes
	pids, _ := cgroup.Procs(cgroupPath)
	p.Processes = uint64(len(pids))
	p.Threads, _ = cgroup.Threads(cgroupPath)
	p.ThreadsMax, _ = cgroup.PIDsMax(cgroupPath)
	for _, pid := range pids {
		proc, err := procfs.NewProc(pid)
		if err != nil {
			continue // exited
		}
		fds, err := proc.FileDescriptorTargets()
		if err != nil {
			continue
		}
		p.FileDescriptors += uint64(len(fds))
		for _, target := range fds {
			if strings.HasPrefix(target, "socket:") {
				p.Sockets++
			}
		}
	}
	return p
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
