package cri

import (
	"context"
	"encoding/json"

	"github.com/containerd/errdefs"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cricket-cri/cricket/sandbox"
)

// RunPodSandbox creates and starts a pod sandbox.
func (s *Server) RunPodSandbox(ctx context.Context, r *runtime.RunPodSandboxRequest) (*runtime.RunPodSandboxResponse, error) {
	if r.GetConfig() == nil {
		return nil, invalid("config is required")
	}
	id, err := s.Sandboxes.Run(ctx, r.GetConfig(), r.GetRuntimeHandler())
	if err != nil {
		return nil, err
	}
	return &runtime.RunPodSandboxResponse{PodSandboxId: id}, nil
}

// StopPodSandbox stops a sandbox's containers and pause process and tears
// down its network. Unknown sandboxes are not an error.
func (s *Server) StopPodSandbox(ctx context.Context, r *runtime.StopPodSandboxRequest) (*runtime.StopPodSandboxResponse, error) {
	if err := checkID("pod_sandbox_id", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if err := s.Sandboxes.Stop(ctx, r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	return &runtime.StopPodSandboxResponse{}, nil
}

// RemovePodSandbox removes a sandbox and its containers. Unknown sandboxes
// are not an error.
func (s *Server) RemovePodSandbox(ctx context.Context, r *runtime.RemovePodSandboxRequest) (*runtime.RemovePodSandboxResponse, error) {
	if err := checkID("pod_sandbox_id", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	if err := s.Sandboxes.Remove(ctx, r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	return &runtime.RemovePodSandboxResponse{}, nil
}

// PodSandboxStatus reports a sandbox's state, addresses and config.
func (s *Server) PodSandboxStatus(ctx context.Context, r *runtime.PodSandboxStatusRequest) (*runtime.PodSandboxStatusResponse, error) {
	if err := checkID("pod_sandbox_id", r.GetPodSandboxId()); err != nil {
		return nil, err
	}
	// The timestamp is taken before anything is read: kubelet's evented
	// PLEG keeps this status until an event with a later timestamp comes,
	// and events are stamped after their change is recorded, so a change
	// this read missed always comes later (see events.Broker.Publish).
	ts := now()
	sb, err := s.Sandboxes.Get(r.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	resp := &runtime.PodSandboxStatusResponse{
		Status:             toSandboxStatus(sb),
		ContainersStatuses: s.podContainerStatuses(sb.ID),
		Timestamp:          ts,
	}
	if r.GetVerbose() {
		if b, err := json.Marshal(s.Sandboxes.Info(ctx, sb)); err == nil {
			resp.Info = map[string]string{"info": string(b)}
		}
	}
	return resp, nil
}

// ListPodSandbox lists sandboxes matching the filter.
func (s *Server) ListPodSandbox(ctx context.Context, r *runtime.ListPodSandboxRequest) (*runtime.ListPodSandboxResponse, error) {
	f := r.GetFilter()
	var sbs []*sandbox.Sandbox
	if id := f.GetId(); id != "" {
		sb, err := s.Sandboxes.Get(id)
		if errdefs.IsNotFound(err) || errdefs.IsInvalidArgument(err) {
			return &runtime.ListPodSandboxResponse{}, nil
		}
		if err != nil {
			return nil, err
		}
		sbs = []*sandbox.Sandbox{sb}
	} else {
		sbs = s.Sandboxes.List()
	}
	out := []*runtime.PodSandbox{}
	for _, sb := range sbs {
		st := sb.Status()
		state := toSandboxState(st.State)
		if f.GetState() != nil && f.GetState().GetState() != state {
			continue
		}
		if !labelsMatch(sb.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		out = append(out, &runtime.PodSandbox{
			Id:             sb.ID,
			Metadata:       sb.Config.GetMetadata(),
			State:          state,
			CreatedAt:      sb.CreatedAt.UnixNano(),
			Labels:         sb.Config.GetLabels(),
			Annotations:    sb.Config.GetAnnotations(),
			RuntimeHandler: sb.RuntimeHandler,
		})
	}
	return &runtime.ListPodSandboxResponse{Items: out}, nil
}

func toSandboxState(s sandbox.State) runtime.PodSandboxState {
	if s == sandbox.StateReady {
		return runtime.PodSandboxState_SANDBOX_READY
	}
	return runtime.PodSandboxState_SANDBOX_NOTREADY
}

func toSandboxStatus(sb *sandbox.Sandbox) *runtime.PodSandboxStatus {
	st := sb.Status()
	nso := sb.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	out := &runtime.PodSandboxStatus{
		Id:             sb.ID,
		Metadata:       sb.Config.GetMetadata(),
		State:          toSandboxState(st.State),
		CreatedAt:      sb.CreatedAt.UnixNano(),
		Labels:         sb.Config.GetLabels(),
		Annotations:    sb.Config.GetAnnotations(),
		RuntimeHandler: sb.RuntimeHandler,
		Linux: &runtime.LinuxPodSandboxStatus{Namespaces: &runtime.Namespace{Options: &runtime.NamespaceOption{
			Network:       nso.GetNetwork(),
			Pid:           nso.GetPid(),
			Ipc:           nso.GetIpc(),
			TargetId:      nso.GetTargetId(),
			UsernsOptions: nso.GetUsernsOptions(),
		}}},
	}
	if !sb.HostNetwork() && st.IP != "" {
		out.Network = &runtime.PodSandboxNetworkStatus{Ip: st.IP}
		for _, ip := range st.AdditionalIPs {
			out.Network.AdditionalIps = append(out.Network.AdditionalIps, &runtime.PodIP{Ip: ip})
		}
	} else {
		out.Network = &runtime.PodSandboxNetworkStatus{}
	}
	return out
}

// labelsMatch reports whether labels contain every selector pair.
func labelsMatch(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
