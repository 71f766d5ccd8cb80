package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
	utilexec "k8s.io/utils/exec"

	"github.com/cricket-cri/cricket/config"
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

// syncBuffer is a bytes.Buffer a stream writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// inputUntil is input s that ends once done holds (or ctx is done).
func inputUntil(ctx context.Context, s string, done func() bool) io.Reader {
	return io.MultiReader(strings.NewReader(s), readerFunc(func([]byte) (int, error) {
		for !done() && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		return 0, io.EOF
	}))
}

// goAfter creates file in a container once sent is closed (the process
// waiting for it reads its input only then). It runs in its own
// goroutine: it fails the test with Errorf, never Fatal.
func goAfter(t *testing.T, d *testrig.Daemon, sent <-chan struct{}, id, file string) {
	<-sent
	resp, err := d.Runtime.ExecSync(d.Ctx(), &runtime.ExecSyncRequest{ContainerId: id, Cmd: []string{"touch", file}, Timeout: 30})
	if err != nil || resp.ExitCode != 0 {
		t.Errorf("touch %s: %v %v", file, err, resp)
	}
}

// endSignal returns r and a channel closed once r is read to its end.
func endSignal(r io.Reader) (io.Reader, <-chan struct{}) {
	ended := make(chan struct{})
	var once sync.Once
	return readerFunc(func(p []byte) (int, error) {
		n, err := r.Read(p)
		if err == io.EOF {
			once.Do(func() { close(ended) })
		}
		return n, err
	}), ended
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// blockingReader is input that never ends: reads block until ctx is done.
type blockingReader struct{ ctx context.Context }

func (b blockingReader) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, io.EOF
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
	t.Run("tty exec with stdin", func(t *testing.T) {
		var out bytes.Buffer
		u := execURL(t, d, &runtime.ExecRequest{ContainerId: c, Cmd: []string{"sh"}, Stdin: true, Stdout: true, Tty: true})
		// The input never ends: on a terminal, the end of the client's
		// input ends the session; the shell's exit must end it here.
		in := io.MultiReader(strings.NewReader("echo from-$((6*7)); exit 7\n"), blockingReader{ctx})
		err := stream(ctx, t, u, remotecommand.StreamOptions{Stdin: in, Stdout: &out, Tty: true})
		var exitErr utilexec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 7 || !strings.Contains(out.String(), "from-42") {
			t.Errorf("interactive tty exec: err %v output %q", err, out.String())
		}
	})
	t.Run("tty container: attach, resize, stdin_once", func(t *testing.T) {
		cfg := ctrConfig("tty", img, "sh")
		cfg.Tty, cfg.Stdin, cfg.StdinOnce = true, true, true
		id := runContainer(t, d, podID, pod, cfg)
		resp, err := d.Runtime.Attach(d.Ctx(), &runtime.AttachRequest{ContainerId: id, Stdin: true, Stdout: true, Tty: true})
		if err != nil {
			t.Fatal(err)
		}
		// The shell waits for the size the client sends (ResizePty on the
		// container's terminal); the input ends once it answered, and
		// stdin_once (CloseIO) ends the shell's.
		var out syncBuffer
		in := inputUntil(ctx, `until [ "$(stty size)" = "40 100" ]; do sleep 0.1; done; echo size-$((6*7))`+"\n",
			func() bool { return strings.Contains(out.String(), "size-42") })
		err = stream(ctx, t, resp.Url, remotecommand.StreamOptions{Stdin: in, Stdout: &out, Tty: true, TerminalSizeQueue: &fixedSize{}})
		if err != nil || !strings.Contains(out.String(), "size-42") {
			t.Errorf("attach to a tty container: err %v output %q", err, out.String())
		}
		// cricket's shim ends a terminal's input with an EOT, which the
		// shell reads as the end of its input; runc's hangs the terminal
		// up (SIGHUP).
		want := int32(0)
		if handler == config.RuncRuntimeHandler {
			want = 128 + 1
		}
		if st := waitState(t, d, id, runtime.ContainerState_CONTAINER_EXITED); st.ExitCode != want {
			t.Errorf("tty shell exit code %d after its input closed, want %d", st.ExitCode, want)
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
	// Input written just before its end (CloseIO) still arrives, all of
	// it, also what the FIFO and the pipe behind it still hold because
	// the process reads only later.
	big := strings.Repeat("0123456789abcdef", 100<<6) // 100 KiB
	waitThenCount := []string{"sh", "-c", "until [ -e /tmp/go-$0 ]; do sleep 0.05; done; wc -c"}
	t.Run("stdin read after its end", func(t *testing.T) {
		var out bytes.Buffer
		u := execURL(t, d, &runtime.ExecRequest{ContainerId: c, Cmd: append(waitThenCount, "exec"), Stdin: true, Stdout: true})
		in, sent := endSignal(strings.NewReader(big))
		go goAfter(t, d, sent, c, "/tmp/go-exec")
		err := stream(ctx, t, u, remotecommand.StreamOptions{Stdin: in, Stdout: &out})
		if err != nil || strings.TrimSpace(out.String()) != strconv.Itoa(len(big)) {
			t.Errorf("exec wc -c of %d bytes: err %v output %q", len(big), err, out.String())
		}
	})
	t.Run("attach with stdin_once, stdin read after its end", func(t *testing.T) {
		cfg := ctrConfig("wc", img, append(waitThenCount, "attach")...)
		cfg.Stdin, cfg.StdinOnce = true, true
		id := runContainer(t, d, podID, pod, cfg)
		resp, err := d.Runtime.Attach(d.Ctx(), &runtime.AttachRequest{ContainerId: id, Stdin: true, Stdout: true})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		in, sent := endSignal(strings.NewReader(big))
		go goAfter(t, d, sent, id, "/tmp/go-attach")
		err = stream(ctx, t, resp.Url, remotecommand.StreamOptions{Stdin: in, Stdout: &out})
		if err != nil || strings.TrimSpace(out.String()) != strconv.Itoa(len(big)) {
			t.Errorf("attach wc -c of %d bytes: err %v output %q", len(big), err, out.String())
		}
		waitState(t, d, id, runtime.ContainerState_CONTAINER_EXITED)
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
			// The server answers before the forward begins: client-go's
			// forwarder drops its whole connection at the first stream
			// the pod refuses (kubectl port-forward ends there too).
			target := net.JoinHostPort(podStatus(t, d, podID).GetNetwork().GetIp(), strconv.Itoa(port))
			if hostNet {
				target = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			}
			httpGet(t, "http://"+target+"/")
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
					body, err := httpGetWithin(fmt.Sprintf("http://127.0.0.1:%d/", local), 30*time.Second)
					if err != nil {
						errs <- err
						return
					}
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
