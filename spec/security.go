package spec

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CheckPodAllows refuses what a container may have only if its pod has
// it too: privileges, and the host's PID namespace (a container of a pod
// without it would see every process of the host). CreateContainer checks
// this before anything is created; spec generation checks it again.
func CheckPodAllows(sc *runtime.LinuxContainerSecurityContext, pod *runtime.LinuxSandboxSecurityContext) error {
	if sc.GetPrivileged() && !pod.GetPrivileged() {
		return fmt.Errorf("security_context.privileged: privileged container in a pod that is not privileged: %w", errdefs.ErrInvalidArgument)
	}
	if sc.GetNamespaceOptions().GetPid() == runtime.NamespaceMode_NODE && pod.GetNamespaceOptions().GetPid() != runtime.NamespaceMode_NODE {
		return fmt.Errorf("security_context.namespace_options.pid NODE: a container may use the host's PID namespace only in a pod that does: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// securityOpts applies a container's security context. users, when set,
// caches user lookups per imageKey (the image's chain ID).
func securityOpts(sc *runtime.LinuxContainerSecurityContext, pod *runtime.LinuxSandboxSecurityContext, imageUser string, users *UserCache, imageKey string) ([]oci.SpecOpts, error) {
	if err := CheckPodAllows(sc, pod); err != nil {
		return nil, err
	}
	if err := checkAppArmor(sc); err != nil {
		return nil, err
	}
	var opts []oci.SpecOpts
	if sc.GetPrivileged() {
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	} else {
		caps, err := capabilityOpts(sc.GetCapabilities())
		if err != nil {
			return nil, err
		}
		opts = append(opts, caps...)
		// Explicit lists are used as given; empty means the runtime's
		// defaults (kubelet sends its defaults unless procMount is
		// Unmasked).
		if len(sc.GetMaskedPaths()) > 0 {
			opts = append(opts, oci.WithMaskedPaths(sc.GetMaskedPaths()))
		}
		if len(sc.GetReadonlyPaths()) > 0 {
			opts = append(opts, oci.WithReadonlyPaths(sc.GetReadonlyPaths()))
		}
	}
	opts = append(opts, withNoNewPrivileges(sc.GetNoNewPrivs()))
	if sc.GetReadonlyRootfs() {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	uopts, err := userOpts(sc, imageUser, users, imageKey)
	if err != nil {
		return nil, err
	}
	opts = append(opts, uopts...)
	profile, err := ContainerSeccomp(sc)
	if err != nil {
		return nil, err
	}
	if profile == nil {
		profile = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}
	}
	sec, err := seccompOpts(profile, sc.GetPrivileged())
	if err != nil {
		return nil, err
	}
	return append(opts, sec), nil
}

// capabilityOpts applies add/drop lists; "ALL" adds or drops every
// capability, and names come without the CAP_ prefix.
func capabilityOpts(c *runtime.Capability) ([]oci.SpecOpts, error) {
	norm := func(names []string) ([]string, bool, error) {
		var out []string
		all := false
		for _, n := range names {
			u := strings.ToUpper(n)
			if u == "ALL" {
				all = true
				continue
			}
			if !strings.HasPrefix(u, "CAP_") {
				u = "CAP_" + u
			}
			if !knownCaps[u] {
				return nil, false, fmt.Errorf("unknown capability %q: %w", n, errdefs.ErrInvalidArgument)
			}
			out = append(out, u)
		}
		return out, all, nil
	}
	add, addAll, err := norm(c.GetAddCapabilities())
	if err != nil {
		return nil, err
	}
	drop, dropAll, err := norm(c.GetDropCapabilities())
	if err != nil {
		return nil, err
	}
	ambient, _, err := norm(c.GetAddAmbientCapabilities())
	if err != nil {
		return nil, err
	}
	var opts []oci.SpecOpts
	// Docker's order: drop ALL, then add; add ALL, then drop. "ALL" is
	// every capability cricketd itself has: runc cannot grant more.
	if dropAll {
		opts = append(opts, oci.WithCapabilities(nil))
	}
	if addAll {
		opts = append(opts, oci.WithAllCurrentCapabilities)
	}
	if len(add) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(add))
	}
	if len(drop) > 0 {
		opts = append(opts, oci.WithDroppedCapabilities(drop))
	}
	if len(ambient) > 0 {
		opts = append(opts, oci.WithAmbientCapabilities(ambient))
	}
	return opts, nil
}

var knownCaps = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
		"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
		"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
		"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
		"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
		"CHECKPOINT_RESTORE"} {
		m["CAP_"+c] = true
	}
	return m
}()

// userOpts sets the process user: run_as_user or run_as_username, else the
// image's USER; run_as_group needs one of the first two; supplemental groups
// are merged with the user's groups in the image unless the policy is
// Strict. What the image's files resolve is cached in users per imageKey.
func userOpts(sc *runtime.LinuxContainerSecurityContext, imageUser string, users *UserCache, imageKey string) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	userSet := sc.GetRunAsUser() != nil || sc.GetRunAsUsername() != ""
	if sc.GetRunAsGroup() != nil && !userSet {
		return nil, fmt.Errorf("run_as_group is set without run_as_user or run_as_username: %w", errdefs.ErrInvalidArgument)
	}
	var userstr, source string
	switch {
	case sc.GetRunAsUser() != nil:
		uid := sc.GetRunAsUser().GetValue()
		if uid < 0 || uid > 1<<31-1 {
			return nil, fmt.Errorf("run_as_user %d out of range: %w", uid, errdefs.ErrInvalidArgument)
		}
		userstr, source = strconv.FormatInt(uid, 10), "uid"
		opts = append(opts, oci.WithUserID(uint32(uid)))
	case sc.GetRunAsUsername() != "":
		userstr, source = sc.GetRunAsUsername(), "username"
		opts = append(opts, oci.WithUsername(userstr))
	case imageUser != "":
		userstr, _, _ = strings.Cut(imageUser, ":")
		source = "image:" + imageUser
		opts = append(opts, oci.WithUser(imageUser))
	default:
		userstr, source = "0", "default"
		opts = append(opts, oci.WithUserID(0))
	}
	group := "-"
	if g := sc.GetRunAsGroup(); g != nil {
		if g.GetValue() < 0 || g.GetValue() > 1<<31-1 {
			return nil, fmt.Errorf("run_as_group %d out of range: %w", g.GetValue(), errdefs.ErrInvalidArgument)
		}
		group = strconv.FormatInt(g.GetValue(), 10)
		opts = append(opts, withGID(uint32(g.GetValue())))
	}
	strict := sc.GetSupplementalGroupsPolicy() == runtime.SupplementalGroupsPolicy_Strict
	if !strict {
		opts = append(opts, oci.WithAdditionalGIDs(userstr))
	} else {
		opts = append(opts, withOnlyPrimaryGroup)
	}
	// The options so far read the image's files and nothing but the
	// security context: their outcome is cached per image.
	key := ""
	if imageKey != "" {
		key = strings.Join([]string{imageKey, source, userstr, group, strconv.FormatBool(strict)}, "\x00")
	}
	opts = []oci.SpecOpts{withCachedUser(users, key, opts)}
	if len(sc.GetSupplementalGroups()) > 0 {
		for _, g := range sc.GetSupplementalGroups() {
			if g < 0 || g > 1<<31-1 {
				return nil, fmt.Errorf("supplemental_groups: %d out of range: %w", g, errdefs.ErrInvalidArgument)
			}
		}
		opts = append(opts, withAppendGIDs(sc.GetSupplementalGroups()))
	}
	return opts, nil
}

// withAppendGIDs adds numeric supplementary groups (no rootfs lookup needed,
// unlike oci.WithAppendAdditionalGroups).
func withAppendGIDs(gids []int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for _, g := range gids {
			if !slices.Contains(s.Process.User.AdditionalGids, uint32(g)) {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, uint32(g))
			}
		}
		return nil
	}
}

func withOnlyPrimaryGroup(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	s.Process.User.AdditionalGids = []uint32{s.Process.User.GID}
	return nil
}

func withNoNewPrivileges(on bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Process.NoNewPrivileges = on
		return nil
	}
}

// legacySeccomp reads the deprecated seccomp_profile_path field.
func legacySeccomp(p string) (*runtime.SecurityProfile, error) {
	switch {
	case p == "" || p == "unconfined":
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Unconfined}, nil
	case p == "runtime/default" || p == "docker/default":
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}, nil
	case strings.HasPrefix(p, "localhost/"):
		return &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: strings.TrimPrefix(p, "localhost/")}, nil
	}
	return nil, fmt.Errorf("seccomp_profile_path %q: want unconfined, runtime/default or localhost/<path>: %w", p, errdefs.ErrInvalidArgument)
}

// appArmorEnabled reports whether the host runs AppArmor.
var appArmorEnabled = func() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

// checkAppArmor fails clearly for an AppArmor profile the host cannot
// apply. Without AppArmor only "unconfined" (or nothing) is possible.
// Profiles themselves are not applied yet even with AppArmor present.
func checkAppArmor(sc *runtime.LinuxContainerSecurityContext) error {
	p := sc.GetApparmor()
	name := sc.GetApparmorProfile()
	confined := (p != nil && p.GetProfileType() != runtime.SecurityProfile_Unconfined) ||
		(p == nil && name != "" && name != "unconfined")
	if !confined {
		return nil
	}
	if !appArmorEnabled() {
		return fmt.Errorf("apparmor profile requested but AppArmor is not enabled on this host: %w", errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("apparmor profiles are not supported by cricket yet: %w", errdefs.ErrNotImplemented)
}
