package sandbox

import (
	"strings"
	"unicode"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/invalidarg"
	"github.com/cricket-cri/cricket/spec"
)

// validate checks a PodSandboxConfig before any side effect.
func validate(cfg *runtime.PodSandboxConfig) error {
	md := cfg.GetMetadata()
	switch {
	case md == nil:
		return invalidarg.Errorf("config.metadata is required")
	case md.GetName() == "":
		return invalidarg.Errorf("config.metadata.name is required")
	case md.GetNamespace() == "":
		return invalidarg.Errorf("config.metadata.namespace is required")
	case md.GetUid() == "":
		return invalidarg.Errorf("config.metadata.uid is required")
	}
	for field, v := range map[string]string{"config.metadata.name": md.GetName(), "config.metadata.namespace": md.GetNamespace(), "config.metadata.uid": md.GetUid()} {
		if err := validatePodName(field, v); err != nil {
			return err
		}
	}
	if err := ValidateLabels("config.labels", cfg.GetLabels()); err != nil {
		return err
	}
	if err := ValidateAnnotations("config.annotations", cfg.GetAnnotations()); err != nil {
		return err
	}
	if err := validateFiles(cfg); err != nil {
		return err
	}
	sc := cfg.GetLinux().GetSecurityContext()
	if err := spec.ValidateSeccomp("config.linux.security_context.seccomp", sc.GetSeccomp(), sc.GetPrivileged()); err != nil {
		return err
	}
	nso := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if m := nso.GetNetwork(); m == runtime.NamespaceMode_CONTAINER || m == runtime.NamespaceMode_TARGET {
		return invalidarg.Errorf("namespace_options.network %s is not supported for a pod (POD or NODE)", m)
	}
	if m := nso.GetIpc(); m == runtime.NamespaceMode_CONTAINER || m == runtime.NamespaceMode_TARGET {
		return invalidarg.Errorf("namespace_options.ipc %s is not supported for a pod (POD or NODE)", m)
	}
	if nso.GetPid() == runtime.NamespaceMode_TARGET {
		return invalidarg.Errorf("namespace_options.pid TARGET is only valid for containers")
	}
	if err := validateUserNS(nso.GetUsernsOptions()); err != nil {
		return err
	}
	if nso.GetUsernsOptions() != nil && nso.GetUsernsOptions().GetMode() == runtime.NamespaceMode_POD &&
		(nso.GetNetwork() == runtime.NamespaceMode_NODE || nso.GetIpc() == runtime.NamespaceMode_NODE || nso.GetPid() == runtime.NamespaceMode_NODE) {
		return invalidarg.Errorf("userns_options mode POD cannot be combined with host network, IPC or PID namespaces")
	}
	hostNet := nso.GetNetwork() == runtime.NamespaceMode_NODE
	hostIPC := nso.GetIpc() == runtime.NamespaceMode_NODE
	for k, v := range cfg.GetLinux().GetSysctls() {
		if err := validateSysctl(k, hostNet, hostIPC); err != nil {
			return err
		}
		if err := validateSysctlValue(k, v); err != nil {
			return err
		}
	}
	for _, p := range cfg.GetPortMappings() {
		if p.GetContainerPort() <= 0 || p.GetContainerPort() > 65535 || p.GetHostPort() < 0 || p.GetHostPort() > 65535 {
			return invalidarg.Errorf("port_mappings: container_port %d / host_port %d out of range", p.GetContainerPort(), p.GetHostPort())
		}
	}
	if lp := cfg.GetLogDirectory(); lp != "" && !strings.HasPrefix(lp, "/") {
		return invalidarg.Errorf("log_directory %q must be absolute", lp)
	}
	// Last: the fields above name what is too large more precisely.
	if n := proto.Size(cfg); n > MaxPodConfigBytes {
		return invalidarg.Errorf("config is %d bytes, more than the %d a pod sandbox config may have", n, MaxPodConfigBytes)
	}
	return nil
}

// MaxPodConfigBytes bounds a whole PodSandboxConfig (in its protobuf
// encoding). Kubernetes keeps a pod under about 1.5 MiB, and its sandbox
// config carries only a part: labels, annotations, DNS, ports, sysctls.
const MaxPodConfigBytes = 1 << 20

// validatePodName checks a pod's name, namespace or UID: kubelet passes
// them to CNI plugins in CNI_ARGS, where ';' separates the arguments and
// '=' a name from its value, and Kubernetes names have neither.
func validatePodName(field, v string) error {
	if err := ValidateName(field, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, ";=") {
		return invalidarg.Errorf("%s %q contains ';' or '=', which CNI arguments cannot carry", field, v)
	}
	return nil
}

// ipcSysctls are the sysctls of the IPC namespace (besides fs.mqueue.*).
var ipcSysctls = map[string]bool{
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
}

// sysctlNamespace is the namespace a sysctl belongs to: IPC or network;
// "" for any other (hostname and domain name included: they are set
// through the pod's hostname).
func sysctlNamespace(key string) specs.LinuxNamespaceType {
	k := strings.ReplaceAll(key, "/", ".")
	switch {
	case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
		return specs.IPCNamespace
	case strings.HasPrefix(k, "net."):
		return specs.NetworkNamespace
	}
	return ""
}

// sysctlPath is a sysctl's path under /proc/sys. A key is dotted
// ("net.ipv4.ip_forward") or, if it holds a slash, already a path (which
// lets a name contain dots: "net/ipv4/conf/eth0.100/forwarding").
func sysctlPath(key string) string {
	if strings.Contains(key, "/") {
		return key
	}
	return strings.ReplaceAll(key, ".", "/")
}

// netDeviceSysctl reports whether a sysctl is one of a network device's
// (net.ipv4.conf.eth0.*, net.ipv6.neigh.eth0.*): it exists only once the
// network is attached, and the attach may set it too.
func netDeviceSysctl(key string) bool {
	p := strings.Split(sysctlPath(key), "/")
	return len(p) > 3 && p[0] == "net" && (p[1] == "ipv4" || p[1] == "ipv6") &&
		(p[2] == "conf" || p[2] == "neigh") && p[3] != "all" && p[3] != "default"
}

// hasNetDeviceSysctl reports whether any of the sysctls is a network
// device's.
func hasNetDeviceSysctl(sysctls map[string]string) bool {
	for k := range sysctls {
		if netDeviceSysctl(k) {
			return true
		}
	}
	return false
}

// maxSysctlValueBytes bounds a sysctl's value. The sysctls of a pod's
// namespaces take a few numbers or a few short names; a page is far above
// any of them.
const maxSysctlValueBytes = 4096

// validateSysctlValue checks what can be checked of a sysctl's value
// without knowing the sysctl: its length, and no control characters but
// tabs. A line break or NUL would cut the value short (or the write, in
// runc) and no sysctl takes one; spaces and tabs separate the numbers of
// a vector sysctl ("net.ipv4.ip_local_port_range": "32768 60999"). The
// kernel checks the value itself when the pod's namespaces are created.
func validateSysctlValue(key, v string) error {
	if len(v) > maxSysctlValueBytes {
		return invalidarg.Errorf("sysctl %q: value of %d bytes, more than the %d allowed", shorten(key), len(v), maxSysctlValueBytes)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) {
		return invalidarg.Errorf("sysctl %q: value %q contains a control character (a line break, NUL)", shorten(key), shorten(v))
	}
	return nil
}

// validateSysctl accepts only sysctls that live in a namespace the pod owns:
// setting any other would change the host. A path that could leave the
// key's own directory ("net/../kernel/core_pattern") is no sysctl name.
func validateSysctl(key string, hostNet, hostIPC bool) error {
	for _, seg := range strings.Split(sysctlPath(key), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalidarg.Errorf("sysctl %q is not a sysctl name (empty, . or .. path element)", key)
		}
	}
	switch sysctlNamespace(key) {
	case specs.IPCNamespace:
		if hostIPC {
			return invalidarg.Errorf("sysctl %q is in the IPC namespace, which this pod shares with the host", key)
		}
	case specs.NetworkNamespace:
		if hostNet {
			return invalidarg.Errorf("sysctl %q is in the network namespace, which this pod shares with the host", key)
		}
	default:
		if k := strings.ReplaceAll(key, "/", "."); k == "kernel.hostname" || k == "kernel.domainname" {
			return invalidarg.Errorf("sysctl %q: set the hostname through the pod's hostname", key)
		}
		return invalidarg.Errorf("sysctl %q is not namespaced; setting it would change the host", key)
	}
	return nil
}
