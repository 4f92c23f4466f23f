//go:build linux

package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

const defaultEngine = EngineURing

const eventLoopSupported = true

// readBufferSize is what a loop reads from a connection at once: many
// pipelined requests.
const readBufferSize = 64 << 10

// lingerTimeout bounds how long a connection closed by the edge is read
// (and what is read thrown away) after its last answer, so that the
// client's unread requests do not turn the close into a reset that
// destroys the answer.
const lingerTimeout = 2 * time.Second

// evConn is a client connection of an event loop.
type evConn struct {
	fd   int
	peer net.Addr // the client's address, as the request context gives it
	in   []byte   // requests read but not yet answered
	out  []byte   // answers not yet written
	// since is when the current wait began: for the rest of a request
	// once its first byte came, for a request on an idle connection, for
	// the client to take its answers, or for it to close.
	since     time.Time
	writing   bool // waiting for EPOLLOUT
	closing   bool // close once out is written
	lingering bool // written and shut down; reading until EOF
	backlog   bool // requests left in in while out was full
}

// evLoop is one epoll loop: it accepts connections from the listener and
// answers them, alone, one readiness at a time.
type evLoop struct {
	s      *Server
	ep     int
	wake   int // an eventfd: written to stop the loop
	lfd    int
	conns  map[int]*evConn
	x      *exchange
	buf    []byte
	events []unix.EpollEvent
	now    time.Time
	stop   bool
	paused bool // the listener is out of the wait after a failed accept
}

// serveLoops answers on ln with the event loops of s.cfg.Engine. Where the
// kernel refuses io_uring (a container may), EngineURing falls back to
// epoll loops, and says so.
func (s *Server) serveLoops(ctx context.Context, ln net.Listener) error {
	if s.cfg.Engine == EngineURing {
		err := uringProbe()
		if err == nil {
			return s.serveEventLoops(ctx, ln, newURLoop)
		}
		s.log.Warn("answering with epoll event loops instead of io_uring", "error", err)
	}
	return s.serveEventLoops(ctx, ln, newEvLoop)
}

// loop is an event loop, on epoll (evLoop) or io_uring (urLoop).
type loop interface {
	// run answers until its wake eventfd is written to, or until it
	// fails.
	run() error
	// close frees what the loop holds, if it never ran.
	close()
}

// serveEventLoops answers on ln with s.cfg.EventLoops loops made by
// newLoop until ctx ends, then stops accepting, answers what it has read
// and closes the connections, within shutdownTimeout. Each loop is given
// an eventfd to wake it with, which outlives the loop: it is closed once
// every loop has returned, so that waking a loop that failed writes into
// no other descriptor.
func (s *Server) serveEventLoops(ctx context.Context, ln net.Listener, newLoop func(s *Server, lfd, wake int) (loop, error)) error {
	defer ln.Close()
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return fmt.Errorf("event loop: listener %T has no file descriptor", ln)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("event loop: %w", err)
	}
	lfd := -1
	if err := raw.Control(func(fd uintptr) { lfd = int(fd) }); err != nil {
		return fmt.Errorf("event loop: %w", err)
	}
	var wakes []int
	defer func() {
		for _, fd := range wakes {
			unix.Close(fd)
		}
	}()
	loops := make([]loop, s.cfg.EventLoops)
	for i := range loops {
		wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			err = fmt.Errorf("eventfd: %w", err)
		} else {
			wakes = append(wakes, wake)
			loops[i], err = newLoop(s, lfd, wake)
		}
		if err != nil {
			for _, l := range loops[:i] {
				l.close()
			}
			return fmt.Errorf("event loop: %w", err)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range loops {
		g.Go(l.run)
	}
	g.Go(func() error {
		<-gctx.Done() // ctx ended, or a loop failed
		one := [8]byte{1}
		for _, fd := range wakes {
			unix.Write(fd, one[:])
		}
		return nil
	})
	return g.Wait()
}

func newEvLoop(s *Server, lfd, wake int) (loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	l := &evLoop{s: s, ep: ep, wake: wake, lfd: lfd, conns: map[int]*evConn{},
		x: newExchange(s), buf: make([]byte, readBufferSize), events: make([]unix.EpollEvent, 256)}
	// Several loops share the listener: EPOLLEXCLUSIVE wakes one of them
	// per connection.
	if err := l.ctl(unix.EPOLL_CTL_ADD, lfd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE); err != nil {
		l.close()
		return nil, fmt.Errorf("listener: %w", err)
	}
	if err := l.ctl(unix.EPOLL_CTL_ADD, wake, unix.EPOLLIN); err != nil {
		l.close()
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return l, nil
}

func (l *evLoop) ctl(op, fd int, events uint32) error {
	return unix.EpollCtl(l.ep, op, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
}

func (l *evLoop) close() {
	for fd := range l.conns {
		unix.Close(fd)
	}
	l.s.conns.Add(-int64(len(l.conns)))
	unix.Close(l.ep)
}

// scanEvery is how often a loop looks for connections past a timeout.
func scanEvery(cfg Config) time.Duration {
	return min(time.Second, cfg.ReadTimeout/4, cfg.IdleTimeout/4, lingerTimeout/4)
}

func (l *evLoop) run() error {
	defer l.close()
	every := scanEvery(l.s.cfg)
	msec := int(every / time.Millisecond)
	l.now = time.Now()
	lastScan, deadline := l.now, time.Time{}
	for {
		n, err := unix.EpollWait(l.ep, l.events, msec)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("event loop: epoll wait: %w", err)
		}
		l.now = time.Now()
		for _, ev := range l.events[:max(n, 0)] {
			switch fd := int(ev.Fd); fd {
			case l.lfd:
				l.accept()
			case l.wake:
				if !l.stop {
					l.beginStop()
					deadline = l.now.Add(shutdownTimeout)
				}
			default:
				if c := l.conns[fd]; c != nil {
					l.ready(c, ev.Events)
				}
			}
		}
		if l.stop && (len(l.conns) == 0 || l.now.After(deadline)) {
			return nil
		}
		if l.now.Sub(lastScan) >= every {
			lastScan = l.now
			l.expire()
			if l.paused && !l.stop && l.ctl(unix.EPOLL_CTL_ADD, l.lfd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE) == nil {
				l.paused = false
			}
		}
	}
}

func (l *evLoop) accept() {
	for {
		fd, sa, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM) {
				// Out of descriptors or memory: the listener stays
				// readable, so it is left out of the wait until the
				// next scan rather than spun on.
				if unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lfd, nil) == nil {
					l.paused = true
				}
				l.s.errLog.log(l.s.log, "accept", err)
			}
			// EAGAIN: no more, or another loop took it.
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := l.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN|unix.EPOLLRDHUP); err != nil {
			unix.Close(fd)
			continue
		}
		l.conns[fd] = &evConn{fd: fd, peer: tcpAddr(sa), since: l.now}
		l.s.conns.Add(1)
	}
}

// ready serves a connection the kernel says is readable or writable. A
// readable connection is read once (level-triggered: what is left is
// reported again), not until EAGAIN: that read would fail nearly always.
func (l *evLoop) ready(c *evConn, events uint32) {
	if c.writing {
		if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			l.drop(c)
			return
		}
		l.flush(c)
		return
	}
	n, err := unix.Read(c.fd, l.buf)
	if n <= 0 {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return
		}
		l.drop(c) // the client closed, or the connection broke
		return
	}
	if c.lingering || c.closing {
		return // thrown away
	}
	if len(c.in) == 0 {
		l.answer(c, l.buf[:n])
	} else {
		c.in = append(c.in, l.buf[:n]...)
		l.answer(c, c.in)
	}
}

// answer answers the requests in data (the read buffer or c.in), keeps
// what is left in c.in, and writes the answers.
func (l *evLoop) answer(c *evConn, data []byte) {
	l.x.ctx.SetRemoteAddr(c.peer)
	closeConn, begins := l.x.answerInto(data, &c.in, &c.out, l.stop)
	c.closing = c.closing || closeConn
	c.backlog = len(c.out) >= maxPendingAnswers
	if begins {
		c.since = l.now
	}
	l.flush(c)
}

// flush writes c's answers; what the socket does not take now waits for
// EPOLLOUT, and the connection is not read meanwhile.
func (l *evLoop) flush(c *evConn) {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			l.drop(c)
			return
		}
		c.out = c.out[:copy(c.out, c.out[n:])]
	}
	if len(c.out) > 0 {
		if !c.writing {
			c.writing, c.since = true, l.now
			l.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLOUT)
		}
		return
	}
	if c.writing {
		c.writing, c.since = false, l.now
		l.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLIN|unix.EPOLLRDHUP)
	}
	switch {
	case c.closing:
		l.linger(c)
	case l.stop && len(c.in) == 0:
		l.drop(c)
	case c.backlog:
		// Requests left unanswered while answers waited: answer them now.
		l.answer(c, c.in)
	}
}

// linger shuts c down for writing once its last answer is written, then
// reads until the client closes, or lingerTimeout.
func (l *evLoop) linger(c *evConn) {
	if c.lingering {
		return
	}
	c.lingering, c.since = true, l.now
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		l.drop(c)
	}
}

func (l *evLoop) drop(c *evConn) {
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	delete(l.conns, c.fd)
	l.s.conns.Add(-1)
}

// beginStop stops accepting and closes the connections with nothing to
// answer; the others close once answered.
func (l *evLoop) beginStop() {
	l.stop = true
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lfd, nil)
	for _, c := range l.conns {
		if len(c.out) == 0 && len(c.in) == 0 || c.lingering {
			l.drop(c)
		}
	}
}

// expire closes the connections past a timeout: a request not all sent
// within ReadTimeout (a slowloris), an idle one past IdleTimeout, answers
// not taken within writeTimeout, a closed one that lingered too long.
func (l *evLoop) expire() {
	for _, c := range l.conns {
		if timedOut(l.s.cfg, l.now.Sub(c.since), c.lingering, c.writing, len(c.in) > 0) {
			l.drop(c)
		}
	}
}

// timedOut reports whether a connection that has waited for wait is past
// the timeout of what it waits for: the client's close once shut down
// (lingering), the client's reading of its answers (writing), the rest of
// a request (reading), or else the next request.
func timedOut(cfg Config, wait time.Duration, lingering, writing, reading bool) bool {
	switch {
	case lingering:
		return wait >= lingerTimeout
	case writing:
		return wait >= writeTimeout
	case reading:
		return wait >= cfg.ReadTimeout
	default:
		return wait >= cfg.IdleTimeout
	}
}

// tcpAddr is the address of a peer as net gives it; nil when unknown.
func tcpAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
	}
	return nil
}
