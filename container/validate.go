package container

import (
	"fmt"
	"path"
	"strings"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox"
	"github.com/cricket-cri/cricket/spec"
)

// validate checks a ContainerConfig before any side effect.
func validate(cfg *runtime.ContainerConfig) error {
	if cfg.GetMetadata() == nil || cfg.GetMetadata().GetName() == "" {
		return invalid("config.metadata.name is required")
	}
	if cfg.GetImage().GetImage() == "" {
		return invalid("config.image.image is required")
	}
	if err := sandbox.ValidateLabels("config.labels", cfg.GetLabels()); err != nil {
		return err
	}
	if lp := cfg.GetLogPath(); lp != "" {
		clean := path.Clean(lp)
		if path.IsAbs(lp) || clean == ".." || strings.HasPrefix(clean, "../") {
			return invalid("config.log_path %q must be relative to the pod's log_directory and stay inside it", lp)
		}
	}
	for _, m := range cfg.GetMounts() {
		if err := spec.ValidateMount(m); err != nil {
			return err
		}
	}
	if cfg.GetStopSignal() != runtime.Signal_SIGNAL_RUNTIME_DEFAULT {
		if _, err := signalOf(cfg.GetStopSignal()); err != nil {
			return err
		}
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidArgument)...)
}
