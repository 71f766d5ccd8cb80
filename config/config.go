// Package config holds cricketd's configuration: its defaults, the TOML file
// format and its validation. Every key is documented in contrib/config.toml.
package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// Defaults that other packages refer to.
const (
	DefaultListen            = "unix:///run/cricket/cricket.sock"
	DefaultConfigPath        = "/etc/cricket/config.toml"
	DefaultRoot              = "/var/lib/cricket"
	DefaultState             = "/run/cricket"
	DefaultSandboxImage      = "registry.k8s.io/pause:3.10"
	DefaultContainerdAddress = "/run/containerd/containerd.sock"
	DefaultContainerdNS      = "k8s.io"
	DefaultSnapshotter       = "overlayfs"
	// DefaultRuntimeHandler is the handler pods without a runtime_handler
	// get unless default_runtime says otherwise: cricket's own shim.
	DefaultRuntimeHandler     = CricketRuntimeHandler
	DefaultRuntimeType        = RuncRuntimeType
	DefaultRegistryConfigPath = "/etc/containerd/certs.d"
	DefaultCNIConfDir         = "/etc/cni/net.d"
	DefaultMaxLogLineSize     = 16 * 1024
	// NRI's own defaults, as containerd uses them.
	DefaultNRISocketPath       = "/var/run/nri/nri.sock"
	DefaultNRIPluginPath       = "/opt/nri/plugins"
	DefaultNRIPluginConfigPath = "/etc/nri/conf.d"
)

// DefaultCDISpecDirs are the CDI specification directories, in
// increasing priority: static specs from packages in /etc/cdi, specs
// generated at run time (by device plugins and DRA drivers) in
// /var/run/cdi, which win when both define a device.
var DefaultCDISpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

// Runtime (shim) types cricket knows: containerd's runc shim, and
// cricket's own shim (cmd/containerd-shim-cricket-v1, on runc's
// libcontainer), which the "cricket" handler selects. containerd derives a
// shim's binary from its type: containerd-shim-runc-v2 and
// containerd-shim-cricket-v1, looked up in containerd's PATH.
const (
	RuncRuntimeType       = "io.containerd.runc.v2"
	CricketRuntimeType    = "io.containerd.cricket.v1"
	CricketRuntimeHandler = "cricket"
	RuncRuntimeHandler    = "runc"
)

// Cgroup drivers.
const (
	CgroupDriverCgroupfs = "cgroupfs"
	CgroupDriverSystemd  = "systemd"
)

// Config is cricketd's whole configuration. The zero value is not useful:
// start from Default().
type Config struct {
	// Listen is the CRI endpoint, unix:///path or a bare path.
	Listen string `toml:"listen"`
	// Root holds state that must survive a reboot; State holds state that
	// must not (sockets, netns pins, per-sandbox files).
	Root     string `toml:"root"`
	State    string `toml:"state"`
	LogLevel string `toml:"log_level"`
	// LogFormat is "text" or "json".
	LogFormat string `toml:"log_format"`

	SandboxImage string `toml:"sandbox_image"`
	// SandboxMode is how a pod's namespaces are held: "pause" (a pause
	// container, the default) or "pinned" (bind mounts, no process, for
	// pods that need no shared PID or user namespace; see package sandbox).
	SandboxMode              string   `toml:"sandbox_mode"`
	ImagePullProgressTimeout Duration `toml:"image_pull_progress_timeout"`
	// MaxConcurrentDownloads bounds the layers one pull downloads at
	// once (containerd's key of the same name and default).
	MaxConcurrentDownloads  int    `toml:"max_concurrent_downloads"`
	CgroupDriver            string `toml:"cgroup_driver"`
	MaxContainerLogLineSize int    `toml:"max_container_log_line_size"`
	// StatsCollectPeriod is how often container and pod cgroups are
	// sampled; CPU rates are computed between two samples.
	StatsCollectPeriod Duration `toml:"stats_collect_period"`
	// IgnoreImageVolumes leaves an image's VOLUMEs unmounted (by default
	// each gets a directory of the container, seeded from the image).
	IgnoreImageVolumes bool `toml:"ignore_image_volumes"`

	Containerd   Containerd   `toml:"containerd"`
	Registry     Registry     `toml:"registry"`
	Network      Network      `toml:"network"`
	CNI          CNI          `toml:"cni"`
	StreamServer StreamServer `toml:"stream_server"`
	Metrics      Metrics      `toml:"metrics"`
	Debug        Debug        `toml:"debug"`
	CDI          CDI          `toml:"cdi"`
	Tracing      Tracing      `toml:"tracing"`
	NRI          NRI          `toml:"nri"`
	// DefaultRuntime names the handler (a key of Runtimes) that pods
	// without a runtime_handler run on.
	DefaultRuntime string             `toml:"default_runtime"`
	Runtimes       map[string]Runtime `toml:"runtimes"`
}

// Containerd says how to reach containerd, or how to run it.
type Containerd struct {
	Address     string `toml:"address"`
	Namespace   string `toml:"namespace"`
	Snapshotter string `toml:"snapshotter"`
	// Managed makes cricketd start and supervise its own containerd, with
	// root, state and socket under cricketd's own root and state dirs.
	Managed bool `toml:"managed"`
	// Binary is the containerd executable for managed mode (looked up in PATH).
	Binary string `toml:"binary"`
}

// Registry configures image pulls.
type Registry struct {
	// ConfigPath is a containerd-style hosts directory:
	// <config_path>/<host[:port]>/hosts.toml.
	ConfigPath string `toml:"config_path"`
}

// Sandbox modes.
const (
	SandboxModePause  = "pause"
	SandboxModePinned = "pinned"
)

// Network modes.
const (
	NetworkModeCNI    = "cni"
	NetworkModeBridge = "bridge"
)

// Network chooses the pod network backend.
type Network struct {
	// Mode is "cni" (plugins configured in cni.conf_dir) or "bridge"
	// (cricket's built-in bridge, veth, IPAM and host ports).
	Mode   string `toml:"mode"`
	Bridge Bridge `toml:"bridge"`
}

// Bridge configures the built-in network backend.
type Bridge struct {
	Name   string `toml:"name"`
	Subnet string `toml:"subnet"`
	MTU    int    `toml:"mtu"`
	IPMasq bool   `toml:"ip_masq"`
}

// CNI configures pod networking through CNI plugins.
type CNI struct {
	BinDirs []string `toml:"bin_dirs"`
	ConfDir string   `toml:"conf_dir"`
	// Timeout bounds one CNI ADD or DEL (a hung plugin is killed).
	Timeout Duration `toml:"timeout"`
}

// StreamServer is where exec/attach/port-forward URLs point.
type StreamServer struct {
	Address string `toml:"address"`
	// Port 0 picks a free port.
	Port int `toml:"port"`
	// TLSCertFile and TLSKeyFile, both set, serve https.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
}

// Metrics configures cricket's own Prometheus endpoint.
type Metrics struct {
	// Address (host:port) serves /metrics; empty turns the endpoint off.
	Address string `toml:"address"`
}

// Debug configures cricket's debugging endpoint.
type Debug struct {
	// Address (host:port) serves Go's pprof profiles under /debug/pprof/;
	// empty turns the endpoint off.
	Address string `toml:"address"`
}

// CDI configures Container Device Interface devices: a container asks
// for them by name (CDI_devices, or cdi.k8s.io/ annotations) and gets
// what the vendor's spec file says (device nodes, env, mounts, hooks).
type CDI struct {
	// Enabled off refuses containers that ask for CDI devices (it does
	// not ignore them: a container must not run without the device it
	// was promised). Spec files are not read at all.
	Enabled bool `toml:"enabled"`
	// SpecDirs are searched for *.json and *.yaml spec files; a device
	// defined in a later directory wins over an earlier one.
	SpecDirs []string `toml:"spec_dirs"`
}

// Tracing configures OpenTelemetry tracing of CRI calls and of the
// containerd calls made under them (see package tracing).
type Tracing struct {
	// Endpoint is the host:port of an OTLP/gRPC collector; empty turns
	// tracing off (no exporter, no spans).
	Endpoint string `toml:"endpoint"`
	// SamplingRatio is the share of traces recorded (0 to 1) when a call
	// arrives without a sampled parent; a caller's decision (kubelet's
	// traceparent) is followed.
	SamplingRatio float64 `toml:"sampling_ratio"`
	// ServiceName is the service.name resource attribute of the spans.
	ServiceName string `toml:"service_name"`
	// Insecure sends spans without TLS (a collector on the node or
	// loopback); otherwise TLS against the system's CAs.
	Insecure bool `toml:"insecure"`
}

// NRI configures Node Resource Interface plugins (github.com/containerd/nri):
// processes that see every pod and container event and may adjust
// containers as they are created. Off by default, as in containerd.
type NRI struct {
	Enable bool `toml:"enable"`
	// SocketPath is where external plugins connect.
	SocketPath string `toml:"socket_path"`
	// PluginPath holds plugins cricketd starts itself (files named
	// <index>-<name>); PluginConfigPath their configuration files.
	PluginPath       string `toml:"plugin_path"`
	PluginConfigPath string `toml:"plugin_config_path"`
	// PluginRegistrationTimeout bounds a plugin's registration;
	// PluginRequestTimeout each event a plugin handles. A plugin that
	// exceeds it is disconnected and the call goes on without it.
	PluginRegistrationTimeout Duration `toml:"plugin_registration_timeout"`
	PluginRequestTimeout      Duration `toml:"plugin_request_timeout"`
}

// Runtime is one runtime handler a pod can ask for by name.
type Runtime struct {
	// Type is the containerd runtime (shim) name.
	Type string `toml:"type"`
	// BinaryName is the OCI runtime binary the shim runs (default runc).
	BinaryName string `toml:"binary_name"`
	// Root is the OCI runtime's state root (the shim's default when empty).
	Root          string `toml:"root"`
	SystemdCgroup bool   `toml:"systemd_cgroup"`
}

// Default returns the built-in configuration.
func Default() *Config {
	return &Config{
		Listen:                   DefaultListen,
		Root:                     DefaultRoot,
		State:                    DefaultState,
		LogLevel:                 "info",
		LogFormat:                "text",
		SandboxImage:             DefaultSandboxImage,
		SandboxMode:              SandboxModePause,
		ImagePullProgressTimeout: Duration(5 * time.Minute),
		MaxConcurrentDownloads:   3,
		CgroupDriver:             CgroupDriverCgroupfs,
		MaxContainerLogLineSize:  DefaultMaxLogLineSize,
		StatsCollectPeriod:       Duration(10 * time.Second),
		Containerd: Containerd{
			Address:     DefaultContainerdAddress,
			Namespace:   DefaultContainerdNS,
			Snapshotter: DefaultSnapshotter,
			Binary:      "containerd",
		},
		Registry: Registry{ConfigPath: DefaultRegistryConfigPath},
		Network: Network{
			Mode:   NetworkModeCNI,
			Bridge: Bridge{Name: "cricket0", Subnet: "10.85.0.0/16", MTU: 1500, IPMasq: true},
		},
		CNI:            CNI{BinDirs: []string{"/opt/cni/bin", "/usr/lib/cni"}, ConfDir: DefaultCNIConfDir, Timeout: Duration(2 * time.Minute)},
		StreamServer:   StreamServer{Address: "127.0.0.1"},
		CDI:            CDI{Enabled: true, SpecDirs: append([]string(nil), DefaultCDISpecDirs...)},
		Tracing:        Tracing{SamplingRatio: 1, ServiceName: "cricket"},
		DefaultRuntime: DefaultRuntimeHandler,
		Runtimes: map[string]Runtime{
			RuncRuntimeHandler:    {Type: RuncRuntimeType},
			CricketRuntimeHandler: {Type: CricketRuntimeType},
		},
		// containerd's NRI defaults (package nri checks that they are
		// the library's).
		NRI: NRI{
			SocketPath:                DefaultNRISocketPath,
			PluginPath:                DefaultNRIPluginPath,
			PluginConfigPath:          DefaultNRIPluginConfigPath,
			PluginRegistrationTimeout: Duration(5 * time.Second),
			PluginRequestTimeout:      Duration(2 * time.Second),
		},
	}
}

// SocketPath returns the filesystem path of the CRI endpoint.
func (c *Config) SocketPath() string {
	return strings.TrimPrefix(c.Listen, "unix://")
}

// Validate checks values that the decoder cannot.
func (c *Config) Validate() error {
	if p := c.SocketPath(); strings.Contains(p, "://") {
		return fmt.Errorf("listen %q: only unix:// endpoints are supported", c.Listen)
	} else if !filepath.IsAbs(p) {
		return fmt.Errorf("listen %q: socket path must be absolute", c.Listen)
	}
	for name, dir := range map[string]string{"root": c.Root, "state": c.State} {
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("%s %q: must be an absolute path", name, dir)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	}
	switch c.CgroupDriver {
	case CgroupDriverCgroupfs, CgroupDriverSystemd:
	default:
		return fmt.Errorf("cgroup_driver %q: want %s or %s", c.CgroupDriver, CgroupDriverCgroupfs, CgroupDriverSystemd)
	}
	if c.SandboxImage == "" {
		return fmt.Errorf("sandbox_image must not be empty")
	}
	switch c.SandboxMode {
	case SandboxModePause, SandboxModePinned:
	default:
		return fmt.Errorf("sandbox_mode %q: want %s or %s", c.SandboxMode, SandboxModePause, SandboxModePinned)
	}
	if c.ImagePullProgressTimeout < 0 {
		return fmt.Errorf("image_pull_progress_timeout %s: must not be negative", c.ImagePullProgressTimeout)
	}
	if c.MaxConcurrentDownloads <= 0 {
		return fmt.Errorf("max_concurrent_downloads %d: must be positive", c.MaxConcurrentDownloads)
	}
	if c.MaxContainerLogLineSize <= 0 {
		return fmt.Errorf("max_container_log_line_size %d: must be positive", c.MaxContainerLogLineSize)
	}
	if c.StatsCollectPeriod < Duration(100*time.Millisecond) {
		return fmt.Errorf("stats_collect_period %s: must be at least 100ms", c.StatsCollectPeriod)
	}
	switch c.Network.Mode {
	case NetworkModeCNI, NetworkModeBridge:
	default:
		return fmt.Errorf("network.mode %q: want %s or %s", c.Network.Mode, NetworkModeCNI, NetworkModeBridge)
	}
	if n := c.Network.Bridge.Name; n == "" || len(n) > 15 || strings.ContainsAny(n, "/ \t") {
		return fmt.Errorf("network.bridge.name %q: want an interface name of 1 to 15 characters", n)
	}
	if ip, n, err := net.ParseCIDR(c.Network.Bridge.Subnet); err != nil || ip.To4() == nil {
		return fmt.Errorf("network.bridge.subnet %q: want an IPv4 CIDR such as 10.85.0.0/16", c.Network.Bridge.Subnet)
	} else if ones, _ := n.Mask.Size(); ones > 30 {
		return fmt.Errorf("network.bridge.subnet %q: too small for pods (at most /30)", c.Network.Bridge.Subnet)
	}
	if m := c.Network.Bridge.MTU; m < 68 || m > 65535 {
		return fmt.Errorf("network.bridge.mtu %d: want 68 to 65535", m)
	}
	if c.CNI.Timeout <= 0 {
		return fmt.Errorf("cni.timeout %s: must be positive", c.CNI.Timeout)
	}
	if c.Containerd.Namespace == "" {
		return fmt.Errorf("containerd.namespace must not be empty")
	}
	if !c.Containerd.Managed && c.Containerd.Address == "" {
		return fmt.Errorf("containerd.address must not be empty")
	}
	if c.Containerd.Snapshotter == "" {
		return fmt.Errorf("containerd.snapshotter must not be empty")
	}
	if net.ParseIP(c.StreamServer.Address) == nil {
		return fmt.Errorf("stream_server.address %q: not an IP address", c.StreamServer.Address)
	}
	if (c.StreamServer.TLSCertFile == "") != (c.StreamServer.TLSKeyFile == "") {
		return fmt.Errorf("stream_server: tls_cert_file and tls_key_file go together")
	}
	if c.StreamServer.Port < 0 || c.StreamServer.Port > 65535 {
		return fmt.Errorf("stream_server.port %d: out of range", c.StreamServer.Port)
	}
	if c.CDI.Enabled && len(c.CDI.SpecDirs) == 0 {
		return fmt.Errorf("cdi.spec_dirs is empty: name at least one directory, or set cdi.enabled = false")
	}
	for _, dir := range c.CDI.SpecDirs {
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("cdi.spec_dirs %q: must be an absolute path", dir)
		}
	}
	if err := c.Tracing.validate(); err != nil {
		return err
	}
	if err := c.NRI.validate(); err != nil {
		return err
	}
	if _, ok := c.Runtimes[c.DefaultRuntime]; !ok {
		return fmt.Errorf("default_runtime %q: not a configured handler (see [runtimes])", c.DefaultRuntime)
	}
	for name, rt := range c.Runtimes {
		if name == "" {
			return fmt.Errorf("runtimes: empty handler name")
		}
		if rt.Type == "" {
			rt.Type = DefaultRuntimeType
			c.Runtimes[name] = rt
		}
	}
	return nil
}

func (n *NRI) validate() error {
	for _, p := range []struct{ key, path string }{
		{"socket_path", n.SocketPath}, {"plugin_path", n.PluginPath}, {"plugin_config_path", n.PluginConfigPath},
	} {
		if !filepath.IsAbs(p.path) {
			return fmt.Errorf("nri.%s %q: must be an absolute path", p.key, p.path)
		}
	}
	// A unix socket's path has room for 107 bytes.
	if len(n.SocketPath) > 107 {
		return fmt.Errorf("nri.socket_path %q: longer than a unix socket path may be (107 bytes)", n.SocketPath)
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{{"plugin_registration_timeout", n.PluginRegistrationTimeout}, {"plugin_request_timeout", n.PluginRequestTimeout}} {
		if t.d <= 0 {
			return fmt.Errorf("nri.%s %s: must be positive", t.key, t.d)
		}
	}
	return nil
}
