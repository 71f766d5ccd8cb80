package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	cnins "github.com/containernetworking/plugins/pkg/ns"
)

// PortForward connects stream to localhost:port inside the pod's network
// namespace (the host's for host-network pods) and copies both ways until
// either side closes.
func (m *Manager) PortForward(ctx context.Context, id string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	sb, err := m.store.Get(id)
	if err != nil {
		return err
	}
	if sb.Status().State != StateReady {
		return fmt.Errorf("sandbox %s is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("port %d out of range: %w", port, errdefs.ErrInvalidArgument)
	}
	var conn net.Conn
	dial := func(cnins.NetNS) error {
		var err error
		conn, err = dialLocalhost(ctx, port)
		return err
	}
	if sb.HostNetwork() {
		err = dial(nil)
	} else {
		// The socket belongs to the namespace it was created in, so it
		// keeps talking to the pod after the thread switches back.
		err = cnins.WithNetNSPath(sb.NetNSPath, dial)
	}
	if err != nil {
		return fmt.Errorf("port forward to port %d of sandbox %s: %w", port, sb.ID, err)
	}
	defer conn.Close()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		io.Copy(conn, stream)
		// The client is done sending: tell the server, keep reading.
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	go func() {
		defer wg.Done()
		io.Copy(stream, conn)
		stream.Close()
	}()
	wg.Wait()
	return nil
}

// dialLocalhost tries IPv4 then IPv6 loopback, as kubelet's "localhost".
func dialLocalhost(ctx context.Context, port int32) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	p := strconv.Itoa(int(port))
	c, err4 := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
	if err4 == nil {
		return c, nil
	}
	c, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", p))
	if err6 == nil {
		return c, nil
	}
	return nil, errors.Join(err4, err6)
}
