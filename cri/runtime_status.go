package cri

import (
	"context"
	"encoding/json"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Status reports whether containerd answers (RuntimeReady) and whether a pod
// network is configured (NetworkReady), and the runtime handlers.
func (s *Server) Status(ctx context.Context, r *runtime.StatusRequest) (*runtime.StatusResponse, error) {
	runtimeCond := &runtime.RuntimeCondition{Type: runtime.RuntimeReady, Status: true}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	serving, err := s.Containerd.IsServing(cctx)
	cancel()
	if err != nil || !serving {
		runtimeCond.Status = false
		runtimeCond.Reason = "ContainerdUnavailable"
		runtimeCond.Message = "containerd is not serving"
		if err != nil {
			runtimeCond.Message += ": " + err.Error()
		}
	}
	if runtimeCond.Status && s.Recovered != nil {
		if err := s.Recovered(); err != nil {
			runtimeCond.Status = false
			runtimeCond.Reason = "StateRecoveryPending"
			runtimeCond.Message = err.Error()
		}
	}
	networkCond := &runtime.RuntimeCondition{Type: runtime.NetworkReady, Status: true}
	if err := s.Network.Ready(); err != nil {
		networkCond.Status = false
		networkCond.Reason = "NetworkPluginNotReady"
		networkCond.Message = "network plugin is not ready: " + err.Error()
	}
	resp := &runtime.StatusResponse{
		Status:          &runtime.RuntimeStatus{Conditions: []*runtime.RuntimeCondition{runtimeCond, networkCond}},
		RuntimeHandlers: s.runtimeHandlers(),
		Features:        &runtime.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if r.GetVerbose() {
		resp.Info = s.statusInfo(ctx)
	}
	return resp, nil
}

// runtimeHandlers lists the default handler (empty name) first, then every
// handler configured now by name. Features are claimed only once
// implemented.
func (s *Server) runtimeHandlers() []*runtime.RuntimeHandler {
	out := []*runtime.RuntimeHandler{}
	for _, h := range s.Sandboxes.Handlers() {
		out = append(out, &runtime.RuntimeHandler{Name: h.Name, Features: &runtime.RuntimeHandlerFeatures{
			RecursiveReadOnlyMounts: h.Features.RecursiveReadOnlyMounts,
			UserNamespaces:          h.Features.UserNamespaces,
		}})
	}
	return out
}

func (s *Server) statusInfo(ctx context.Context) map[string]string {
	info := map[string]string{}
	put := func(key string, v any) {
		if b, err := json.Marshal(v); err == nil {
			info[key] = string(b)
		}
	}
	// The configuration in use: what a reload (SIGHUP) applied shows here.
	put("config", s.Config.Get())
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if v, err := s.Containerd.Version(cctx); err == nil {
		put("containerdVersion", v)
	} else {
		put("containerdVersion", map[string]string{"error": err.Error()})
	}
	if err := s.Network.Ready(); err != nil {
		put("lastCNILoadStatus", err.Error())
	} else {
		put("lastCNILoadStatus", "OK")
	}
	put("podCIDR", s.Network.PodCIDR())
	return info
}
