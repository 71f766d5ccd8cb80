// Command testnri is an NRI plugin for cricket's integration tests, built
// on the library's plugin stub: it records every event it is told of in a
// file (one line each: the event, then the pod's and the container's
// names, "-" for none), and, as its flags say, injects an environment variable into
// containers, refuses containers of one name, hangs in CreateContainer,
// changes containers' resource updates, and asks for a resource update of
// each container that starts. It exits when cricket closes its connection.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

type plugin struct {
	stub    stub.Stub
	mu      sync.Mutex
	events  *os.File
	env     string
	reject  string
	hang    bool
	memory  int64
	shares  uint64
	updates sync.WaitGroup
}

func main() {
	var (
		p      plugin
		socket = flag.String("socket", "", "NRI socket")
		idx    = flag.String("idx", "10", "plugin index")
		name   = flag.String("name", "test", "plugin name")
		events = flag.String("events", "", "file to append events to")
	)
	flag.StringVar(&p.env, "env", "", "KEY=VALUE to add to every container's environment")
	flag.StringVar(&p.reject, "reject", "", "refuse to create containers of this name")
	flag.BoolVar(&p.hang, "hang-create", false, "never answer CreateContainer")
	flag.Int64Var(&p.memory, "update-memory", 0, "set this memory limit in every UpdateContainer")
	flag.Uint64Var(&p.shares, "started-shares", 0, "ask for these CPU shares for every container that starts")
	flag.Parse()
	f, err := os.OpenFile(*events, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	p.events = f
	p.stub, err = stub.New(&p, stub.WithSocketPath(*socket), stub.WithPluginIdx(*idx), stub.WithPluginName(*name))
	if err != nil {
		log.Fatal(err)
	}
	err = p.stub.Run(context.Background())
	p.updates.Wait()
	p.record("Closed", nil, nil)
	if err != nil {
		log.Printf("plugin stopped: %v", err)
	}
}

func (p *plugin) record(event string, pod *api.PodSandbox, ctr *api.Container, extra ...string) {
	line := append([]string{event, orDash(pod.GetName()), orDash(ctr.GetName())}, extra...)
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.events, strings.Join(line, " "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	var names []string
	for _, pod := range pods {
		names = append(names, pod.GetName())
	}
	for _, c := range ctrs {
		names = append(names, c.GetName())
	}
	sort.Strings(names)
	p.record("Synchronize", nil, nil, names...)
	return nil, nil
}

func (p *plugin) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RunPodSandbox", pod, nil)
	return nil
}

func (p *plugin) UpdatePodSandbox(_ context.Context, pod *api.PodSandbox, _, r *api.LinuxResources) error {
	p.record("UpdatePodSandbox", pod, nil, fmt.Sprintf("shares=%d", r.GetCpu().GetShares().GetValue()))
	return nil
}

func (p *plugin) StopPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("StopPodSandbox", pod, nil)
	return nil
}

func (p *plugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RemovePodSandbox", pod, nil)
	return nil
}

func (p *plugin) CreateContainer(ctx context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.record("CreateContainer", pod, c)
	if p.hang {
		select {} // cricket disconnects the plugin after its request timeout
	}
	if c.GetName() == p.reject {
		return nil, nil, errors.New("containers named " + p.reject + " are not welcome")
	}
	adj := &api.ContainerAdjustment{}
	if k, v, ok := strings.Cut(p.env, "="); ok {
		adj.AddEnv(k, v)
	}
	return adj, nil, nil
}

func (p *plugin) PostCreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.record("PostCreateContainer", pod, c)
	return nil
}

func (p *plugin) StartContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.record("StartContainer", pod, c, fmt.Sprintf("pid=%t", c.GetPid() != 0))
	return nil
}

func (p *plugin) PostStartContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.record("PostStartContainer", pod, c)
	if p.shares != 0 {
		// An update of the plugin's own, asked for off the event's path
		// (the runtime waits for this event's answer).
		p.updates.Go(func() {
			failed, err := p.stub.UpdateContainers([]*api.ContainerUpdate{{
				ContainerId: c.GetId(),
				Linux:       &api.LinuxContainerUpdate{Resources: &api.LinuxResources{Cpu: &api.LinuxCPU{Shares: api.UInt64(p.shares)}}},
			}})
			p.record("UpdateContainers", pod, c, fmt.Sprintf("failed=%d", len(failed)), fmt.Sprintf("err=%v", err))
		})
	}
	return nil
}

func (p *plugin) UpdateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container, r *api.LinuxResources) ([]*api.ContainerUpdate, error) {
	p.record("UpdateContainer", pod, c, fmt.Sprintf("shares=%d", r.GetCpu().GetShares().GetValue()))
	if p.memory == 0 {
		return nil, nil
	}
	return []*api.ContainerUpdate{{
		ContainerId: c.GetId(),
		Linux:       &api.LinuxContainerUpdate{Resources: &api.LinuxResources{Memory: &api.LinuxMemory{Limit: api.Int64(p.memory)}}},
	}}, nil
}

func (p *plugin) PostUpdateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.record("PostUpdateContainer", pod, c)
	return nil
}

func (p *plugin) StopContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) ([]*api.ContainerUpdate, error) {
	p.record("StopContainer", pod, c)
	return nil, nil
}

func (p *plugin) RemoveContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.record("RemoveContainer", pod, c)
	return nil
}
