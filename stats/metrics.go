package stats

import (
	"strconv"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// BaseLabels are the label keys of every metric, in order; each metric may
// add its own keys after them. These are the keys kubelet's CRI metrics
// collector passes through as cAdvisor's (and CRI-O's and containerd's).
var BaseLabels = []string{"id", "image", "namespace", "pod", "container"}

type def struct {
	name  string
	help  string
	typ   runtime.MetricType
	extra []string
}

const (
	counter = runtime.MetricType_COUNTER
	gauge   = runtime.MetricType_GAUGE
)

// defs are the cAdvisor metrics cricket reports, with cAdvisor's names,
// types and extra labels. Every metric listed is emitted for every running
// container (network ones per pod), except block I/O, which exists only
// for devices the container used with blkio accounting on, and pressure,
// which exists only where the kernel has PSI and a cgroup v2 hierarchy.
var defs = []def{
	{"container_blkio_device_usage_total", "Blkio Device bytes usage.", counter, []string{"device", "major", "minor", "operation"}},
	{"container_fs_reads_bytes_total", "Cumulative count of bytes read.", counter, []string{"device"}},
	{"container_fs_writes_bytes_total", "Cumulative count of bytes written.", counter, []string{"device"}},
	{"container_fs_reads_total", "Cumulative count of reads completed.", counter, []string{"device"}},
	{"container_fs_writes_total", "Cumulative count of writes completed.", counter, []string{"device"}},
	{"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", counter, []string{"cpu"}},
	{"container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", counter, nil},
	{"container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", counter, nil},
	{"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", counter, nil},
	{"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", counter, nil},
	{"container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", counter, nil},
	{"container_memory_cache", "Number of bytes of page cache memory.", gauge, nil},
	{"container_memory_rss", "Size of RSS in bytes.", gauge, nil},
	{"container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", gauge, nil},
	{"container_memory_mapped_file", "Size of memory mapped files in bytes.", gauge, nil},
	{"container_memory_swap", "Container swap usage in bytes.", gauge, nil},
	{"container_memory_failcnt", "Number of memory usage hits limits.", counter, nil},
	{"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", gauge, nil},
	{"container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes.", gauge, nil},
	{"container_memory_working_set_bytes", "Current working set in bytes.", gauge, nil},
	{"container_memory_failures_total", "Cumulative count of memory allocation failures.", counter, []string{"failure_type", "scope"}},
	{"container_oom_events_total", "Count of out of memory events observed for the container.", counter, nil},
	{"container_pressure_cpu_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to CPU congestion.", counter, nil},
	{"container_pressure_cpu_waiting_seconds_total", "Total time duration tasks in the container have waited due to CPU congestion.", counter, nil},
	{"container_pressure_memory_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to memory congestion.", counter, nil},
	{"container_pressure_memory_waiting_seconds_total", "Total time duration tasks in the container have waited due to memory congestion.", counter, nil},
	{"container_pressure_io_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to IO congestion.", counter, nil},
	{"container_pressure_io_waiting_seconds_total", "Total time duration tasks in the container have waited due to IO congestion.", counter, nil},
	{"container_fs_inodes_free", "Number of available Inodes.", gauge, []string{"device"}},
	{"container_fs_inodes_total", "Number of Inodes.", gauge, []string{"device"}},
	{"container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", gauge, []string{"device"}},
	{"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", gauge, []string{"device"}},
	{"container_processes", "Number of processes running inside the container.", gauge, nil},
	{"container_threads", "Number of threads running inside the container.", gauge, nil},
	{"container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero.", gauge, nil},
	{"container_file_descriptors", "Number of open file descriptors for the container.", gauge, nil},
	{"container_sockets", "Number of open sockets for the container.", gauge, nil},
	{"container_spec_cpu_period", "CPU period of the container.", gauge, nil},
	{"container_spec_cpu_shares", "CPU share of the container.", gauge, nil},
	{"container_spec_memory_limit_bytes", "Memory limit for the container.", gauge, nil},
	{"container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", gauge, nil},
	{"container_start_time_seconds", "Start time of the container since unix epoch in seconds.", gauge, nil},
	{"container_last_seen", "Last time a container was seen by the exporter.", gauge, nil},
	{"container_network_receive_bytes_total", "Cumulative count of bytes received.", counter, []string{"interface"}},
	{"container_network_receive_packets_total", "Cumulative count of packets received.", counter, []string{"interface"}},
	{"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", counter, []string{"interface"}},
	{"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", counter, []string{"interface"}},
	{"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", counter, []string{"interface"}},
	{"container_network_transmit_packets_total", "Cumulative count of packets transmitted.", counter, []string{"interface"}},
	{"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", counter, []string{"interface"}},
	{"container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", counter, []string{"interface"}},
}

var defsByName = func() map[string]def {
	m := map[string]def{}
	for _, d := range defs {
		m[d.name] = d
	}
	return m
}()

// Descriptors lists the metrics cricket reports.
func Descriptors() []*runtime.MetricDescriptor {
	out := make([]*runtime.MetricDescriptor, 0, len(defs))
	for _, d := range defs {
		keys := append(append([]string{}, BaseLabels...), d.extra...)
		out = append(out, &runtime.MetricDescriptor{Name: d.name, Help: d.help, LabelKeys: keys})
	}
	return out
}

// builder collects metrics sharing base label values.
type builder struct {
	base []string
	ts   int64
	out  []*runtime.Metric
}

func (b *builder) add(name string, v uint64, extra ...string) {
	d, ok := defsByName[name]
	if !ok || len(extra) != len(d.extra) {
		panic("stats: metric " + name + " used with the wrong labels")
	}
	b.out = append(b.out, &runtime.Metric{
		Name:        name,
		Timestamp:   b.ts,
		MetricType:  d.typ,
		LabelValues: append(append([]string{}, b.base...), extra...),
		Value:       &runtime.UInt64Value{Value: v},
	})
}

// addPressure adds a resource's stall times, as cAdvisor names them:
// "waiting" is the kernel's some line, "stalled" its full line. Where the
// cgroup has no pressure file, or no full line, the metric is left out.
func (b *builder) addPressure(resource string, p *Pressure) {
	if p == nil {
		return
	}
	prefix := "container_pressure_" + resource
	b.add(prefix+"_waiting_seconds_total", uint64(p.Some.Total/time.Second))
	if p.Full != nil {
		b.add(prefix+"_stalled_seconds_total", uint64(p.Full.Total/time.Second))
	}
}

// FS is a writable layer's filesystem usage.
type FS struct {
	Device                   string
	UsedBytes, CapacityBytes uint64
	InodesTotal, InodesFree  uint64
}

// ContainerInput is what a container's metrics are made of.
type ContainerInput struct {
	ID, Image, Namespace, Pod, Name string
	Sample                          *Sample
	Processes                       Processes
	FS                              FS
	// Spec values (0 when unset).
	CPUPeriod, CPUShares, MemoryLimit, SwapLimit uint64
	StartedAt                                    time.Time
}

// ContainerMetrics builds a container's metrics.
func ContainerMetrics(in ContainerInput) []*runtime.Metric {
	s := in.Sample
	b := &builder{base: []string{in.ID, in.Image, in.Namespace, in.Pod, in.Name}, ts: s.Time.UnixNano()}
	sec := func(ns uint64) uint64 { return ns / uint64(time.Second) }
	b.add("container_cpu_usage_seconds_total", sec(s.CPUUsageNanos), "total")
	b.add("container_cpu_user_seconds_total", sec(s.CPUUserNanos))
	b.add("container_cpu_system_seconds_total", sec(s.CPUSystemNanos))
	b.add("container_cpu_cfs_periods_total", s.CFSPeriods)
	b.add("container_cpu_cfs_throttled_periods_total", s.CFSThrottled)
	b.add("container_cpu_cfs_throttled_seconds_total", sec(s.CFSThrottledNs))
	b.add("container_memory_cache", s.MemoryCache)
	b.add("container_memory_rss", s.MemoryRSS)
	b.add("container_memory_kernel_usage", s.MemoryKernel)
	b.add("container_memory_mapped_file", s.MemoryMapped)
	b.add("container_memory_swap", s.MemorySwap)
	b.add("container_memory_failcnt", s.MemoryFailcnt)
	b.add("container_memory_usage_bytes", s.MemoryUsage)
	b.add("container_memory_max_usage_bytes", s.MemoryMaxUsage)
	b.add("container_memory_working_set_bytes", s.WorkingSet())
	for _, scope := range []string{"container", "hierarchy"} {
		b.add("container_memory_failures_total", s.PageFaults-min(s.PageFaults, s.MajorPageFaults), "pgfault", scope)
		b.add("container_memory_failures_total", s.MajorPageFaults, "pgmajfault", scope)
	}
	b.add("container_oom_events_total", s.OOMEvents)
	b.addPressure("cpu", s.CPUPressure)
	b.addPressure("memory", s.MemoryPressure)
	b.addPressure("io", s.IOPressure)
	for _, io := range s.IO {
		dev := BlockDeviceName(io.Major, io.Minor)
		maj, mn := strconv.FormatUint(io.Major, 10), strconv.FormatUint(io.Minor, 10)
		b.add("container_blkio_device_usage_total", io.ReadBytes, dev, maj, mn, "Read")
		b.add("container_blkio_device_usage_total", io.WriteBytes, dev, maj, mn, "Write")
		b.add("container_fs_reads_bytes_total", io.ReadBytes, dev)
		b.add("container_fs_writes_bytes_total", io.WriteBytes, dev)
		b.add("container_fs_reads_total", io.Reads, dev)
		b.add("container_fs_writes_total", io.Writes, dev)
	}

	live := &builder{base: b.base} // gathered now: timestamp 0
	live.add("container_fs_inodes_free", in.FS.InodesFree, in.FS.Device)
	live.add("container_fs_inodes_total", in.FS.InodesTotal, in.FS.Device)
	live.add("container_fs_limit_bytes", in.FS.CapacityBytes, in.FS.Device)
	live.add("container_fs_usage_bytes", in.FS.UsedBytes, in.FS.Device)
	live.add("container_processes", in.Processes.Processes)
	live.add("container_threads", in.Processes.Threads)
	live.add("container_threads_max", in.Processes.ThreadsMax)
	live.add("container_file_descriptors", in.Processes.FileDescriptors)
	live.add("container_sockets", in.Processes.Sockets)
	live.add("container_spec_cpu_period", in.CPUPeriod)
	live.add("container_spec_cpu_shares", in.CPUShares)
	live.add("container_spec_memory_limit_bytes", in.MemoryLimit)
	live.add("container_spec_memory_swap_limit_bytes", in.SwapLimit)
	if !in.StartedAt.IsZero() {
		live.add("container_start_time_seconds", uint64(in.StartedAt.Unix()))
	}
	live.add("container_last_seen", uint64(time.Now().Unix()))
	return append(b.out, live.out...)
}

// PodNetworkMetrics builds a pod's network metrics, one set per interface
// of its network namespace. The container label is "POD", as for the
// sandbox container under cAdvisor.
func PodNetworkMetrics(sandboxID, namespace, pod string, ifaces []Interface) []*runtime.Metric {
	b := &builder{base: []string{sandboxID, "", namespace, pod, "POD"}}
	for _, i := range ifaces {
		b.add("container_network_receive_bytes_total", i.RxBytes, i.Name)
		b.add("container_network_receive_packets_total", i.RxPackets, i.Name)
		b.add("container_network_receive_errors_total", i.RxErrors, i.Name)
		b.add("container_network_receive_packets_dropped_total", i.RxDrops, i.Name)
		b.add("container_network_transmit_bytes_total", i.TxBytes, i.Name)
		b.add("container_network_transmit_packets_total", i.TxPackets, i.Name)
		b.add("container_network_transmit_errors_total", i.TxErrors, i.Name)
		b.add("container_network_transmit_packets_dropped_total", i.TxDrops, i.Name)
	}
	return b.out
}
