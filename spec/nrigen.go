package spec

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// specEditor edits an OCI spec in place for NRI's adjustment applier
// (github.com/containerd/nri/pkg/runtime-tools/generate), which works
// through the interface of runtime-tools' spec generator: these are the
// few edits it makes, done on the spec itself instead of linking
// runtime-tools. Each creates what it needs and changes nothing else.
type specEditor struct{ s *specs.Spec }

func (e *specEditor) Spec() *specs.Spec { return e.s }

func (e *specEditor) process() *specs.Process {
	if e.s.Process == nil {
		e.s.Process = &specs.Process{}
	}
	return e.s.Process
}

func (e *specEditor) linux() *specs.Linux {
	if e.s.Linux == nil {
		e.s.Linux = &specs.Linux{}
	}
	return e.s.Linux
}

func (e *specEditor) resources() *specs.LinuxResources {
	l := e.linux()
	if l.Resources == nil {
		l.Resources = &specs.LinuxResources{}
	}
	return l.Resources
}

func (e *specEditor) cpu() *specs.LinuxCPU {
	r := e.resources()
	if r.CPU == nil {
		r.CPU = &specs.LinuxCPU{}
	}
	return r.CPU
}

func (e *specEditor) memory() *specs.LinuxMemory {
	r := e.resources()
	if r.Memory == nil {
		r.Memory = &specs.LinuxMemory{}
	}
	return r.Memory
}

func (e *specEditor) hooks() *specs.Hooks {
	if e.s.Hooks == nil {
		e.s.Hooks = &specs.Hooks{}
	}
	return e.s.Hooks
}

func (e *specEditor) AddAnnotation(key, value string) {
	if e.s.Annotations == nil {
		e.s.Annotations = map[string]string{}
	}
	e.s.Annotations[key] = value
}

func (e *specEditor) RemoveAnnotation(key string) { delete(e.s.Annotations, key) }

// AddDevice adds a device node, replacing one at the same path.
func (e *specEditor) AddDevice(d specs.LinuxDevice) {
	l := e.linux()
	if i := slices.IndexFunc(l.Devices, func(o specs.LinuxDevice) bool { return o.Path == d.Path }); i >= 0 {
		l.Devices[i] = d
		return
	}
	l.Devices = append(l.Devices, d)
}

func (e *specEditor) RemoveDevice(path string) {
	if e.s.Linux == nil {
		return
	}
	e.s.Linux.Devices = slices.DeleteFunc(e.s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == path })
}

// namespaceType checks a namespace type named by a plugin.
func namespaceType(ns string) (specs.LinuxNamespaceType, error) {
	t := specs.LinuxNamespaceType(ns)
	switch t {
	case specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
		specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace, specs.TimeNamespace:
		return t, nil
	}
	return "", fmt.Errorf("unknown namespace type %q", ns)
}

func (e *specEditor) AddOrReplaceLinuxNamespace(ns, path string) error {
	t, err := namespaceType(ns)
	if err != nil {
		return err
	}
	l := e.linux()
	if i := slices.IndexFunc(l.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t }); i >= 0 {
		l.Namespaces[i].Path = path
		return nil
	}
	l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: t, Path: path})
	return nil
}

func (e *specEditor) RemoveLinuxNamespace(ns string) error {
	t, err := namespaceType(ns)
	if err != nil {
		return err
	}
	if e.s.Linux != nil {
		e.s.Linux.Namespaces = slices.DeleteFunc(e.s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t })
	}
	return nil
}

// AddPreStartHook adds a prestart hook: deprecated in the OCI spec, still
// offered by NRI, still run by runc.
func (e *specEditor) AddPreStartHook(h specs.Hook) {
	e.hooks().Prestart = append(e.hooks().Prestart, h)
}

func (e *specEditor) AddPostStartHook(h specs.Hook) {
	e.hooks().Poststart = append(e.hooks().Poststart, h)
}
func (e *specEditor) AddPostStopHook(h specs.Hook) {
	e.hooks().Poststop = append(e.hooks().Poststop, h)
}

// AddProcessEnv sets a variable, in place of an earlier value.
func (e *specEditor) AddProcessEnv(name, value string) {
	p := e.process()
	kv := name + "=" + value
	if i := slices.IndexFunc(p.Env, func(v string) bool { return strings.HasPrefix(v, name+"=") }); i >= 0 {
		p.Env[i] = kv
		return
	}
	p.Env = append(p.Env, kv)
}

func (e *specEditor) ClearProcessEnv() {
	if e.s.Process != nil {
		e.s.Process.Env = nil
	}
}

func (e *specEditor) SetProcessArgs(args []string) { e.process().Args = slices.Clone(args) }
func (e *specEditor) SetProcessOOMScoreAdj(adj int) {
	e.process().OOMScoreAdj = &adj
}

func (e *specEditor) AddMount(m specs.Mount) { e.s.Mounts = append(e.s.Mounts, m) }
func (e *specEditor) ClearMounts()           { e.s.Mounts = nil }
func (e *specEditor) Mounts() []specs.Mount  { return slices.Clone(e.s.Mounts) }
func (e *specEditor) RemoveMount(dest string) {
	e.s.Mounts = slices.DeleteFunc(e.s.Mounts, func(m specs.Mount) bool { return m.Destination == dest })
}

func (e *specEditor) AddLinuxSysctl(key, value string) {
	l := e.linux()
	if l.Sysctl == nil {
		l.Sysctl = map[string]string{}
	}
	l.Sysctl[key] = value
}

func (e *specEditor) RemoveLinuxSysctl(key string) {
	if e.s.Linux != nil {
		delete(e.s.Linux.Sysctl, key)
	}
}

func (e *specEditor) SetLinuxCgroupsPath(path string) { e.linux().CgroupsPath = path }

func (e *specEditor) SetLinuxRootPropagation(rp string) error {
	switch rp {
	case "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
	default:
		return fmt.Errorf("rootfs propagation %q: not a propagation mode", rp)
	}
	e.linux().RootfsPropagation = rp
	return nil
}

func (e *specEditor) AddLinuxResourcesDevice(allow bool, devType string, major, minor *int64, access string) {
	r := e.resources()
	r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: allow, Type: devType, Major: major, Minor: minor, Access: access})
}

// AddLinuxResourcesHugepageLimit sets the limit of one page size.
func (e *specEditor) AddLinuxResourcesHugepageLimit(pageSize string, limit uint64) {
	r := e.resources()
	if i := slices.IndexFunc(r.HugepageLimits, func(h specs.LinuxHugepageLimit) bool { return h.Pagesize == pageSize }); i >= 0 {
		r.HugepageLimits[i].Limit = limit
		return
	}
	r.HugepageLimits = append(r.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: pageSize, Limit: limit})
}

func (e *specEditor) AddLinuxResourcesUnified(key, val string) {
	r := e.resources()
	if r.Unified == nil {
		r.Unified = map[string]string{}
	}
	r.Unified[key] = val
}

func (e *specEditor) SetLinuxResourcesCPUCpus(cpus string) { e.cpu().Cpus = cpus }
func (e *specEditor) SetLinuxResourcesCPUMems(mems string) { e.cpu().Mems = mems }
func (e *specEditor) SetLinuxResourcesCPUPeriod(v uint64)  { e.cpu().Period = &v }
func (e *specEditor) SetLinuxResourcesCPUQuota(v int64)    { e.cpu().Quota = &v }
func (e *specEditor) SetLinuxResourcesCPUShares(v uint64)  { e.cpu().Shares = &v }
func (e *specEditor) SetLinuxResourcesCPURealtimePeriod(v uint64) {
	e.cpu().RealtimePeriod = &v
}
func (e *specEditor) SetLinuxResourcesCPURealtimeRuntime(v int64) {
	e.cpu().RealtimeRuntime = &v
}
func (e *specEditor) SetLinuxResourcesMemoryLimit(v int64) { e.memory().Limit = &v }
func (e *specEditor) SetLinuxResourcesMemorySwap(v int64)  { e.memory().Swap = &v }
