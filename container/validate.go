package container

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/internal/invalidarg"
	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/spec"
)

// MaxConfigBytes bounds a whole ContainerConfig (in its protobuf
// encoding): room for the largest env, labels and annotations allowed and
// a long command, well below a gRPC message.
const MaxConfigBytes = 2 << 20

// validate checks a ContainerConfig before any side effect.
func validate(cfg *runtime.ContainerConfig) error {
	if cfg.GetMetadata() == nil || cfg.GetMetadata().GetName() == "" {
		return invalidarg.Errorf("config.metadata.name is required")
	}
	if err := sandbox.ValidateName("config.metadata.name", cfg.GetMetadata().GetName()); err != nil {
		return err
	}
	if cfg.GetImage().GetImage() == "" {
		return invalidarg.Errorf("config.image.image is required")
	}
	if err := sandbox.ValidateLabels("config.labels", cfg.GetLabels()); err != nil {
		return err
	}
	if err := sandbox.ValidateAnnotations("config.annotations", cfg.GetAnnotations()); err != nil {
		return err
	}
	if err := sandbox.ValidateAnnotations("config.image.annotations", cfg.GetImage().GetAnnotations()); err != nil {
		return err
	}
	if err := validateLogPath(cfg.GetLogPath()); err != nil {
		return err
	}
	if err := validateEnv(cfg.GetEnvs()); err != nil {
		return err
	}
	for _, m := range cfg.GetMounts() {
		if err := spec.ValidateMount(m); err != nil {
			return err
		}
	}
	// Their syntax only: whether the node has them is for Create.
	if _, err := spec.CDIDeviceNames(cfg); err != nil {
		return err
	}
	if cfg.GetStopSignal() != runtime.Signal_SIGNAL_RUNTIME_DEFAULT {
		if _, err := signalOf(cfg.GetStopSignal()); err != nil {
			return err
		}
	}
	if err := spec.ValidateResources(cfg.GetLinux().GetResources()); err != nil {
		return err
	}
	sc := cfg.GetLinux().GetSecurityContext()
	profile, err := spec.ContainerSeccomp(sc)
	if err != nil {
		return err
	}
	if err := spec.ValidateSeccomp("config.linux.security_context.seccomp", profile, sc.GetPrivileged()); err != nil {
		return err
	}
	// Last: the fields above name what is too large more precisely.
	if n := proto.Size(cfg); n > MaxConfigBytes {
		return invalidarg.Errorf("config is %d bytes, more than the %d a container config may have", n, MaxConfigBytes)
	}
	return nil
}

// maxLogPathBytes bounds log_path: kubelet's are "<container>/<restart
// count>.log", and a longer one could not be a file name anyway (NAME_MAX).
const maxLogPathBytes = 255

// validateLogPath checks log_path as StartContainer will open it (see
// crilog.Open): relative to the pod's log_directory, without ".." in it
// (even one that stays inside: StartContainer refuses every ".."), not
// the directory itself, and without NUL, which no path can hold.
func validateLogPath(lp string) error {
	if lp == "" {
		return nil
	}
	bad := func(why string) error {
		return invalidarg.Errorf("config.log_path %q %s", shortenPath(lp), why)
	}
	switch {
	case len(lp) > maxLogPathBytes:
		return bad(fmt.Sprintf("is %d bytes long, more than the %d allowed", len(lp), maxLogPathBytes))
	case strings.ContainsRune(lp, 0):
		return bad("contains NUL")
	case strings.HasPrefix(lp, "/"):
		return bad("must be relative to the pod's log_directory")
	}
	clean := true
	for _, name := range strings.Split(lp, "/") {
		if name == ".." {
			return bad(`must stay inside the pod's log_directory: ".." is not allowed`)
		}
		clean = clean && (name == "." || name == "")
	}
	if clean {
		return bad("names the log directory itself, not a file in it")
	}
	return nil
}

func shortenPath(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
