package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	"tags.cncf.io/container-device-interface/pkg/cdi"
	"tags.cncf.io/container-device-interface/pkg/parser"
)

// CDIDeviceNames returns the fully qualified CDI device names
// (vendor.com/class=name) a container config asks for: CRI's CDI_devices
// in their order, then the devices of its "cdi.k8s.io/" annotations (the
// older way, which device plugins still use) by annotation key, each
// name once. A malformed name is InvalidArgument naming it and where it
// came from.
func CDIDeviceNames(cfg *runtime.ContainerConfig) ([]string, error) {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for i, d := range cfg.GetCDIDevices() {
		if _, _, _, err := parser.ParseQualifiedName(d.GetName()); err != nil {
			return nil, fmt.Errorf("config.CDI_devices[%d]: CDI device %q: %v: %w", i, d.GetName(), err, errdefs.ErrInvalidArgument)
		}
		add(d.GetName())
	}
	// By key: the order of device edits (env, mounts) must not depend on
	// map iteration.
	var keys []string
	for k := range cfg.GetAnnotations() {
		if strings.HasPrefix(k, cdi.AnnotationPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		_, devs, err := cdi.ParseAnnotations(map[string]string{k: cfg.GetAnnotations()[k]})
		if err != nil {
			return nil, fmt.Errorf("config.annotations[%q]: %v (want vendor.com/class=name, comma-separated): %w", k, err, errdefs.ErrInvalidArgument)
		}
		for _, d := range devs {
			add(d)
		}
	}
	return names, nil
}
