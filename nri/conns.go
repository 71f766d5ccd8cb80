package nri

import (
	"context"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
)

// conns keeps the connection of every plugin. The library stops the
// plugins it started but leaves external plugins connected when it
// stops; cricket closes them, and the library's own clean-up of a
// plugin runs when its connection closes.
type conns struct {
	mu      sync.Mutex
	clients map[*ttrpc.Client]struct{}
	closed  bool
	wg      sync.WaitGroup // one per open client
}

func newConns() *conns { return &conns{clients: map[*ttrpc.Client]struct{}{}} }

// track is a ttrpc client option: it sees each plugin connection's client
// as it is made, and forgets it once the connection closed.
func (c *conns) track(cl *ttrpc.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		go cl.Close() // a connection accepted as NRI stopped
		return
	}
	c.clients[cl] = struct{}{}
	c.wg.Go(func() {
		cl.UserOnCloseWait(context.Background())
		c.mu.Lock()
		delete(c.clients, cl)
		c.mu.Unlock()
	})
}

// closeAll closes every connection and waits up to timeout for the
// library to have finished with each; it reports whether it did.
func (c *conns) closeAll(timeout time.Duration) bool {
	c.mu.Lock()
	c.closed = true
	open := make([]*ttrpc.Client, 0, len(c.clients))
	for cl := range c.clients {
		open = append(open, cl)
	}
	c.mu.Unlock()
	for _, cl := range open {
		cl.Close()
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}
