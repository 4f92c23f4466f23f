//go:build linux

package edge

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ringEntries is the size of a loop's submission queue: a batch of
// receives and sends submitted with one system call.
const ringEntries = 1024

// What a completion is for: the operation, in the high half of its user
// data, and the connection's descriptor in the low half.
const (
	udAccept = iota + 1
	udWake
	udRecv
	udSend
	udCancel
)

func userData(op, fd int) uint64 { return uint64(op)<<32 | uint64(uint32(fd)) }

// urConn is a client connection of a uring loop.
type urConn struct {
	fd   int
	peer net.Addr // the client's address, as the request context gives it
	in   []byte   // requests read but not yet answered
	out  []byte   // answers being sent: the kernel reads them meanwhile
	sent int      // bytes of out sent
	next []byte   // answers to send once out is sent
	// since is when the current wait began, as evConn's.
	since     time.Time
	recving   bool // a receive is in flight
	sending   bool // a send is in flight
	closing   bool // close once the answers are sent
	lingering bool // sent and shut down; reading until EOF
	eof       bool // the client sent all it will: answer it, then close
	dropping  bool // closing once its operations complete
}

// pending reports whether c has answers to send or requests to answer.
func (c *urConn) pending() bool {
	return c.sent < len(c.out) || len(c.next) > 0 || len(c.in) > 0
}

// urLoop is an event loop on io_uring: it hands the kernel a batch of
// receives and sends, and the kernel does them, with one system call per
// batch rather than one per receive and one per send. Each read returns
// its buffer to the kernel once answered. It is the epoll loop's
// counterpart (evLoop), with the same timeouts and shutdown.
type urLoop struct {
	s        *Server
	r        *ring
	wake     int // an eventfd: written to stop the loop
	lfd      int
	conns    map[int]*urConn
	x        *exchange
	now      time.Time
	stop     bool
	accepts  bool // an accept is armed
	paused   bool // accepting waits for the next scan after an error
	inflight int  // operations whose last completion has not come
	starved  []*urConn
}

// uringProbe reports whether this kernel gives the uring engine what it
// needs, once per process.
var uringProbe = sync.OnceValue(func() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := newRing(8)
	if err != nil {
		return err
	}
	r.close()
	r.freeBuffers()
	return nil
})

func newURLoop(s *Server, lfd, wake int) (loop, error) {
	return &urLoop{s: s, wake: wake, lfd: lfd, conns: map[int]*urConn{}, x: newExchange(s)}, nil
}

func (l *urLoop) run() error {
	// The ring is set up to be used by the thread that made it alone,
	// which lets the kernel finish receives only when the loop asks.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer l.close()
	r, err := newRing(ringEntries)
	if err != nil {
		return fmt.Errorf("event loop: %w", err)
	}
	l.r = r
	l.now = time.Now()
	l.accept()
	s := l.r.get()
	s.opcode, s.fd, s.opFlags, s.userData = opPollAdd, int32(l.wake), unix.POLLIN, userData(udWake, l.wake)
	l.inflight++
	every := scanEvery(l.s.cfg)
	lastScan, deadline := l.now, time.Time{}
	for {
		if err := l.r.enter(every); err != nil {
			return fmt.Errorf("event loop: %w", err)
		}
		l.now = time.Now()
		l.r.completions(l.complete)
		for _, c := range l.starved {
			l.recv(c)
		}
		l.starved = l.starved[:0]
		if l.r.err != nil {
			return fmt.Errorf("event loop: %w", l.r.err)
		}
		if l.stop && deadline.IsZero() {
			deadline = l.now.Add(shutdownTimeout)
		}
		if l.stop && (len(l.conns) == 0 || l.now.After(deadline)) {
			return nil
		}
		if l.now.Sub(lastScan) >= every {
			lastScan = l.now
			l.expire()
			if l.paused && !l.stop {
				l.paused = false
				l.accept()
			}
		}
	}
}

// close cancels what is in flight, waits a moment for it, and closes
// the connections and the ring. The receive buffers are freed only if
// nothing was left in flight, since the kernel may write into them.
func (l *urLoop) close() {
	if l.r == nil {
		return
	}
	for _, c := range l.conns {
		l.drop(c)
	}
	if !l.stop {
		l.cancel(userData(udAccept, l.lfd))
	}
	l.cancel(userData(udWake, l.wake))
	for end := time.Now().Add(time.Second); l.inflight > 0 && l.r.err == nil && time.Now().Before(end); {
		if l.r.enter(100*time.Millisecond) != nil {
			break
		}
		l.r.completions(l.complete)
	}
	for fd := range l.conns {
		unix.Close(fd)
	}
	l.s.conns.Add(-int64(len(l.conns)))
	l.r.close()
	if l.inflight == 0 {
		l.r.freeBuffers()
	}
}

func (l *urLoop) complete(e *cqe) {
	op, fd := int(e.userData>>32), int(int32(uint32(e.userData)))
	if e.flags&cqeFMore == 0 {
		l.inflight--
	}
	switch op {
	case udAccept:
		l.accepted(e)
	case udWake:
		if !l.stop {
			l.beginStop()
		}
	case udRecv:
		l.received(l.conns[fd], e)
	case udSend:
		if c := l.conns[fd]; c != nil {
			l.sentTo(c, e.res)
		}
	}
}

// accept arms a multishot accept: a completion for each connection.
func (l *urLoop) accept() {
	if l.accepts {
		return
	}
	s := l.r.get()
	s.opcode, s.fd, s.ioprio = opAccept, int32(l.lfd), acceptMultishot
	s.opFlags, s.userData = unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, userData(udAccept, l.lfd)
	l.accepts = true
	l.inflight++
}

func (l *urLoop) accepted(e *cqe) {
	if e.flags&cqeFMore == 0 {
		l.accepts = false
	}
	if e.res < 0 {
		err := syscall.Errno(-e.res)
		switch {
		case err == unix.ECANCELED || l.stop:
		case err == unix.EAGAIN || err == unix.EINTR || err == unix.ECONNABORTED:
			l.accept()
		default:
			// Out of descriptors or memory: accepting waits for the
			// next scan rather than spinning.
			l.s.errLog.log(l.s.log, "accept", err)
			l.paused = !l.accepts
		}
		return
	}
	fd := int(e.res)
	if l.stop {
		unix.Close(fd)
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := &urConn{fd: fd, since: l.now}
	if sa, err := unix.Getpeername(fd); err == nil {
		c.peer = tcpAddr(sa)
	}
	l.conns[fd] = c
	l.s.conns.Add(1)
	l.recv(c)
	if !l.accepts {
		l.accept()
	}
}

// recv arms a multishot receive on c: a completion each time data comes,
// into a buffer the kernel picks then, so an idle connection holds none.
func (l *urLoop) recv(c *urConn) {
	if c.recving || c.dropping {
		return
	}
	s := l.r.get()
	s.opcode, s.fd, s.ioprio, s.flags, s.bufGroup = opRecv, int32(c.fd), recvMultishot, sqeBufferSelect, ringBufGroup
	s.userData = userData(udRecv, c.fd)
	c.recving = true
	l.inflight++
}

func (l *urLoop) received(c *urConn, e *cqe) {
	var data []byte
	if e.flags&cqeFBuffer != 0 {
		bid := uint16(e.flags >> cqeBufferShift)
		defer l.r.putBuffer(bid)
		if e.res > 0 {
			data = l.r.buffer(bid, int(e.res))
		}
	}
	if c == nil {
		return
	}
	c.recving = e.flags&cqeFMore != 0
	switch {
	case c.dropping:
		l.release(c)
	case e.res == -int32(unix.ENOBUFS):
		l.starved = append(l.starved, c) // armed again once buffers are back
	case e.res == -int32(unix.ECANCELED):
		// Answers piled up: reading resumes once they are sent.
	case e.res == -int32(unix.EINTR) || e.res == -int32(unix.EAGAIN):
		l.recv(c)
	case e.res == 0 && c.pending():
		// The client shut its side down after its last requests: they
		// are answered, then the connection closes.
		c.eof = true
		if !c.sending {
			l.answer(c, c.in)
		}
	case e.res <= 0:
		l.drop(c) // the client closed, or the connection broke
	case c.lingering || c.closing:
		l.recv(c) // thrown away
	case len(c.in) == 0:
		l.answer(c, data)
	default:
		c.in = append(c.in, data...)
		l.answer(c, c.in)
	}
}

// answer answers the requests in data (a receive buffer or c.in), keeps
// what is left in c.in, sends the answers, and reads on unless answers
// are piling up.
func (l *urLoop) answer(c *urConn, data []byte) {
	l.x.ctx.SetRemoteAddr(c.peer)
	closeConn, begins := l.x.answerInto(data, &c.in, &c.next, l.stop)
	c.closing = c.closing || closeConn
	if begins {
		c.since = l.now
	}
	l.send(c)
	l.readOn(c)
}

// readOn keeps a receive armed on c unless it is closing or its answers
// are piling up (a client that sends and never reads).
func (l *urLoop) readOn(c *urConn) {
	switch {
	case c.closing || c.eof:
	case len(c.next) < maxPendingAnswers:
		l.recv(c)
	case c.recving:
		l.cancel(userData(udRecv, c.fd))
	}
}

// send sends c's answers: out, or else next, which becomes out.
func (l *urLoop) send(c *urConn) {
	if c.sending || c.dropping {
		return
	}
	if c.sent == len(c.out) {
		if len(c.next) == 0 {
			l.settled(c)
			return
		}
		c.out, c.next, c.sent = c.next, c.out[:0], 0
	}
	s := l.r.get()
	s.opcode, s.fd, s.opFlags = opSend, int32(c.fd), unix.MSG_NOSIGNAL
	s.addr, s.len = uint64(uintptr(unsafe.Pointer(&c.out[c.sent]))), uint32(len(c.out)-c.sent)
	s.userData = userData(udSend, c.fd)
	c.sending = true
	l.inflight++
}

func (l *urLoop) sentTo(c *urConn, res int32) {
	c.sending = false
	switch {
	case c.dropping:
		l.release(c)
		return
	case res == -int32(unix.EINTR) || res == -int32(unix.EAGAIN):
	case res < 0:
		l.drop(c)
		return
	default:
		c.sent += int(res)
		c.since = l.now
	}
	if c.sent == len(c.out) {
		c.out, c.sent = c.out[:0], 0
	}
	if len(c.in) > 0 && !c.closing && len(c.next) < maxPendingAnswers {
		// Requests left unanswered while answers piled up.
		l.answer(c, c.in)
		return
	}
	l.send(c)
	l.readOn(c)
}

// settled acts on a connection whose answers are all sent.
func (l *urLoop) settled(c *urConn) {
	switch {
	case c.eof:
		l.drop(c) // the client has closed its side: nothing to linger for
	case c.closing:
		l.linger(c)
	case l.stop && len(c.in) == 0:
		l.drop(c)
	}
}

// linger shuts c down for writing once its last answer is sent, then
// reads until the client closes, or lingerTimeout.
func (l *urLoop) linger(c *urConn) {
	if c.lingering {
		return
	}
	c.lingering, c.since = true, l.now
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		l.drop(c)
		return
	}
	l.recv(c)
}

// drop closes c once its receive and send are cancelled.
func (l *urLoop) drop(c *urConn) {
	if c.dropping {
		return
	}
	c.dropping = true
	if c.recving {
		l.cancel(userData(udRecv, c.fd))
	}
	if c.sending {
		l.cancel(userData(udSend, c.fd))
	}
	l.release(c)
}

// release closes a dropped connection with nothing in flight.
func (l *urLoop) release(c *urConn) {
	if c.recving || c.sending {
		return
	}
	unix.Close(c.fd)
	delete(l.conns, c.fd)
	l.s.conns.Add(-1)
}

func (l *urLoop) cancel(target uint64) {
	s := l.r.get()
	s.opcode, s.fd, s.addr, s.userData = opAsyncCancel, -1, target, userData(udCancel, 0)
	l.inflight++
}

// beginStop stops accepting and closes the connections with nothing to
// answer; the others close once answered.
func (l *urLoop) beginStop() {
	l.stop = true
	l.cancel(userData(udAccept, l.lfd))
	for _, c := range l.conns {
		if !c.pending() || c.lingering {
			l.drop(c)
		}
	}
}

// expire closes the connections past a timeout, as evLoop.expire.
func (l *urLoop) expire() {
	for _, c := range l.conns {
		if !c.dropping && timedOut(l.s.cfg, l.now.Sub(c.since), c.lingering, c.sending, len(c.in) > 0) {
			l.drop(c)
		}
	}
}
