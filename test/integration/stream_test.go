package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	utilexec "k8s.io/utils/exec"

	"github.com/cricket-cri/cricket/internal/testrig"
)

// stream runs an exec or attach stream against a URL the runtime issued.
func stream(ctx context.Context, t *testing.T, rawURL string, opts remotecommand.StreamOptions) error {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host == "" || !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Fatalf("streaming URL %q is not absolute on 127.0.0.1", rawURL)
	}
	exec, err := remotecommand.NewSPDYExecutor(&restclient.Config{}, http.MethodPost, u)
	if err != nil {
		t.Fatal(err)
	}
	return exec.StreamWithContext(ctx, opts)
}

func execURL(t *testing.T, d *testrig.Daemon, req *runtime.ExecRequest) string {
	t.Helper()
	resp, err := d.Runtime.Exec(d.Ctx(), req)
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	return resp.Url
}

type fixedSize struct{ sent bool }

func (f *fixedSize) Next() *remotecommand.TerminalSize {
	if f.sent {
		select {} // one size, then nothing: the stream ends without it
	}
	f.sent = true
	return &remotecommand.TerminalSize{Width: 100, Height: 40}
}

func TestExecAttachStreams(t *testing.T) { forEachHandler(t, testExecAttachStreams) }

func testExecAttachStreams(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	podID, pod := podWithLogsOn(t, d, handler, "streams")
	c := runContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("stdin, stdout, stderr", func(t *testing.T) {
		var out, errOut bytes.Buffer
		u := execURL(t, d, &runtime.ExecRequest{ContainerId: c, Cmd: []string{"sh", "-c", "cat; echo to-stderr >&2"}, Stdin: true, Stdout: true, Stderr: true})
		err := stream(ctx, t, u, remotecommand.StreamOptions{Stdin: strings.NewReader("from stdin\n"), Stdout: &out, Stderr: &errOut})
		if err != nil || out.String() != "from stdin\n" || errOut.String() != "to-stderr\n" {
			t.Errorf("exec: err %v stdout %q stderr %q", err, out.String(), errOut.String())
		}
	})
	t.Run("exit code", func(t *testing.T) {
		u := execURL(t, d, &runtime.ExecRequest{ContainerId: c, Cmd: []string{"sh", "-c", "exit 3"}, Stdout: true})
		err := stream(ctx, t, u, remotecommand.StreamOptions{Stdout: io.Discard})
		var exitErr utilexec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 3 {
			t.Errorf("exit code: %v", err)
		}
	})
	t.Run("tty and resize", func(t *testing.T) {
		var out bytes.Buffer
		u := execURL(t, d, &runtime.ExecRequest{ContainerId: c, Cmd: []string{"sh", "-c", "sleep 0.5; stty size"}, Stdout: true, Tty: true})
		err := stream(ctx, t, u, remotecommand.StreamOptions{Stdout: &out, Tty: true, TerminalSizeQueue: &fixedSize{}})
		if err != nil || strings.TrimSpace(out.String()) != "40 100" {
			t.Errorf("tty exec: err %v output %q", err, out.String())
		}
	})
	t.Run("attach with stdin_once", func(t *testing.T) {
		cfg := ctrConfig("shell", img, "/bin/sh")
		cfg.Stdin, cfg.StdinOnce = true, true
		sh := runContainer(t, d, podID, pod, cfg)
		resp, err := d.Runtime.Attach(d.Ctx(), &runtime.AttachRequest{ContainerId: sh, Stdin: true, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		err = stream(ctx, t, resp.Url, remotecommand.StreamOptions{Stdin: strings.NewReader("echo hello from attach\n"), Stdout: &out, Stderr: io.Discard})
		if err != nil || out.String() != "hello from attach\n" {
			t.Errorf("attach: err %v output %q", err, out.String())
		}
		// stdin_once: the end of our input was the end of the shell's.
		st := waitState(t, d, sh, runtime.ContainerState_CONTAINER_EXITED)
		if st.ExitCode != 0 {
			t.Errorf("shell exit code %d", st.ExitCode)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := d.Runtime.Exec(d.Ctx(), &runtime.ExecRequest{ContainerId: "nosuch", Cmd: []string{"true"}, Stdout: true}); codeOf(err).String() != "NotFound" {
			t.Errorf("exec in unknown container: %v", err)
		}
		if _, err := d.Runtime.Exec(d.Ctx(), &runtime.ExecRequest{ContainerId: c, Cmd: []string{"true"}, Tty: true, Stderr: true}); codeOf(err).String() != "InvalidArgument" {
			t.Errorf("tty with stderr: %v", err)
		}
		if _, err := d.Runtime.Attach(d.Ctx(), &runtime.AttachRequest{ContainerId: c, Stdin: true, Stdout: true}); codeOf(err).String() != "InvalidArgument" {
			t.Errorf("attach stdin to a container without stdin: %v", err)
		}
		// A token works once.
		u := execURL(t, d, &runtime.ExecRequest{ContainerId: c, Cmd: []string{"true"}, Stdout: true})
		if err := stream(ctx, t, u, remotecommand.StreamOptions{Stdout: io.Discard}); err != nil {
			t.Fatal(err)
		}
		if err := stream(ctx, t, u, remotecommand.StreamOptions{Stdout: io.Discard}); err == nil {
			t.Error("a streaming token was accepted twice")
		}
	})
}

func TestExecClientDisconnectLeavesNothing(t *testing.T) {
	forEachHandler(t, testExecClientDisconnectLeavesNothing)
}

func testExecClientDisconnectLeavesNothing(t *testing.T, handler string) {
	d := handlerDaemon(t, testrig.DaemonOptions{})
	img := busybox(t, d)
	podID, pod := podWithLogsOn(t, d, handler, "disconnect")
	c := runContainer(t, d, podID, pod, ctrConfig("c", img, "sleep", "3600"))
	fds := func() int {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.PID()))
		return len(ents)
	}
	// Warm up (first exec opens long-lived connections).
	execOut(t, d, c, "true")
	base := fds()
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		u := execURL(t, d, &runtime.ExecRequest{ContainerId: c, Cmd: []string{"sh", "-c", "while :; do echo tick-" + strconv.Itoa(i) + "; sleep 0.1; done"}, Stdout: true, Stdin: true})
		done := make(chan error, 1)
		go func() {
			done <- stream(ctx, t, u, remotecommand.StreamOptions{Stdin: pr, Stdout: &cancelAfter{n: 3, cancel: cancel}})
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("stream did not end after the client cancelled")
		}
		pw.Close()
		cancel()
	}
	waitFor(t, 30*time.Second, "exec processes killed after the clients left", func() bool {
		out, _, _ := execSync(t, d, c, "sh", "-c", "ps | grep -c '[t]ick-' || true")
		return strings.TrimSpace(out) == "0"
	})
	waitFor(t, 30*time.Second, "cricketd's file descriptors back to the baseline", func() bool { return fds() <= base+2 })
}

// cancelAfter cancels the stream after n writes (a client that leaves).
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if c.n--; c.n <= 0 {
		c.cancel()
	}
	return len(p), nil
}

func TestPortForward(t *testing.T) {
	t.Parallel()
	d := testrig.StartDaemon(t, testrig.DaemonOptions{Network: testrig.NewPodNetwork()})
	for _, hostNet := range []bool{false, true} {
		name := map[bool]string{false: "pod", true: "host"}[hostNet]
		t.Run(name, func(t *testing.T) {
			port := 80
			if hostNet {
				port = freePort(t)
			}
			img := httpdImage(t, d, port)
			pod := podConfig("pf-" + name)
			if hostNet {
				pod.Linux.SecurityContext = &runtime.LinuxSandboxSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE}}
			}
			podID := runPod(t, d, pod)
			runContainer(t, d, podID, pod, ctrConfig("httpd", img))
			resp, err := d.Runtime.PortForward(d.Ctx(), &runtime.PortForwardRequest{PodSandboxId: podID, Port: []int32{int32(port)}})
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(resp.Url)
			transport, upgrader, err := spdy.RoundTripperFor(&restclient.Config{})
			if err != nil {
				t.Fatal(err)
			}
			dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
			local := freePort(t)
			stop, ready := make(chan struct{}), make(chan struct{})
			defer close(stop)
			fw, err := portforward.New(dialer, []string{fmt.Sprintf("%d:%d", local, port)}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			go fw.ForwardPorts()
			select {
			case <-ready:
			case <-time.After(30 * time.Second):
				t.Fatal("port forward not ready")
			}
			// Several requests, some in parallel: one stream each.
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", local))
					if body != "ok from the pod\n" {
						errs <- fmt.Errorf("forwarded answer %q", body)
						return
					}
					errs <- nil
				}()
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}
