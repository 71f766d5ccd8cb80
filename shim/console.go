package shim

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// console connects a process with a terminal to its FIFOs. libcontainer's
// init creates the pseudo-terminal inside the container and sends its
// master over a socket pair; the shim copies the master to the stdout FIFO
// and the stdin FIFO to the master.
type console struct {
	paths  stdioPaths
	parent *os.File // the shim's end of the socket pair
	child  *os.File // given to libcontainer as the console socket
	master *os.File

	hold      *os.File // stdout FIFO read end, kept until delete
	stdin     *stdinCopy
	done      chan struct{} // output copied
	closeOnce sync.Once
}

func newConsole(p stdioPaths) (*console, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	// The shim's end is served by the runtime poller, so that receiving
	// can time out; the child's end stays blocking for libcontainer.
	unix.SetNonblock(fds[0], true)
	return &console{
		paths:  p,
		parent: os.NewFile(uintptr(fds[0]), "console-socket"),
		child:  os.NewFile(uintptr(fds[1]), "console-socket"),
		done:   make(chan struct{}),
	}, nil
}

// started receives the terminal's master from the process's init and
// starts copying.
func (c *console) started() error {
	c.child.Close()
	c.child = nil
	m, err := recvFD(c.parent, 10*time.Second)
	if err != nil {
		return fmt.Errorf("receive the terminal: %w", err)
	}
	c.master = m
	if c.paths.stdout != "" {
		hold, fw, err := openOutputFIFO(c.paths.stdout)
		if err != nil {
			return err
		}
		c.hold = hold
		go func() {
			io.Copy(fw, c.master)
			fw.Close()
			close(c.done)
		}()
	} else {
		close(c.done)
	}
	if c.paths.stdin != "" {
		if c.stdin, err = openStdin(c.paths.stdin); err != nil {
			return err
		}
		// A terminal's input ends when the process reads end of file,
		// which the terminal gives for an EOT (^D) at the start of a
		// line: sent once all the input is through.
		c.stdin.start(c.master, func() { c.master.Write([]byte{4}) })
	}
	return nil
}

// resize sets the terminal's size.
func (c *console) resize(width, height uint32) error {
	if c.master == nil {
		return fmt.Errorf("no terminal yet")
	}
	return unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(height), Col: uint16(width)})
}

// closeStdin is CloseIO: the terminal's input ends after what was
// written (see started).
func (c *console) closeStdin() {
	if c.stdin != nil {
		c.stdin.closeInput()
	}
}

func (c *console) close() {
	c.closeOnce.Do(func() {
		if c.stdin != nil {
			c.stdin.close()
		}
		for _, f := range []io.Closer{c.parent, c.child, c.master, c.hold} {
			if f != nil && !isNilFile(f) {
				f.Close()
			}
		}
	})
}

func isNilFile(c io.Closer) bool {
	f, ok := c.(*os.File)
	return ok && f == nil
}

// recvFD receives one file descriptor over a unix socket.
func recvFD(sock *os.File, timeout time.Duration) (*os.File, error) {
	sock.SetReadDeadline(time.Now().Add(timeout))
	defer sock.SetReadDeadline(time.Time{})
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), name, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no file descriptor received (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no file descriptor received (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
