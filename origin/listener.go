package origin

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// refusal is what a connection over its address's limit gets before it is
// closed: a complete answer, so that a client sees the reason and, as for
// any 503, retries later.
var refusal = "HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: " + strconv.Itoa(len(refusalReason)) + "\r\n" +
	"Retry-After: 1\r\n" +
	"Connection: close\r\n" +
	"\r\n" + refusalReason

const refusalReason = "too many open connections from your address\n"

// refusalWriteTimeout bounds writing the refusal. It fits in the socket
// buffer of a new connection, so the write does not wait on the client;
// the bound is only there to keep the accept loop moving if it did.
const refusalWriteTimeout = 100 * time.Millisecond

// clientConns counts the open connections of each client IP address,
// over every listener of a server: plain HTTP and HTTPS share the limit.
type clientConns struct {
	mu   sync.Mutex
	open map[netip.Addr]int
}

func newClientConns() *clientConns { return &clientConns{open: map[netip.Addr]int{}} }

// clientLimitListener accepts at most max open connections per client IP
// address, counted in conns; it closes the ones over the limit at once,
// answering them with the refusal first when answer is set (plain HTTP: a
// TLS client could not read it).
type clientLimitListener struct {
	net.Listener
	max     int
	answer  bool
	conns   *clientConns
	refused prometheus.Counter
	log     *slog.Logger
}

func newClientLimitListener(ln net.Listener, conns *clientConns, max int, answer bool, refused prometheus.Counter, log *slog.Logger) *clientLimitListener {
	return &clientLimitListener{Listener: ln, max: max, answer: answer, conns: conns, refused: refused, log: log}
}

// Accept returns the next connection whose address is under the limit.
func (l *clientLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := clientAddr(c)
		if !addr.IsValid() {
			return c, nil // not TCP: nothing to count by
		}
		if l.acquire(addr) {
			return &limitedConn{Conn: c, release: func() { l.release(addr) }}, nil
		}
		l.refused.Inc()
		l.log.Debug("connection refused: too many from its address", "addr", addr, "limit", l.max)
		if l.answer {
			c.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
			io.WriteString(c, refusal)
		}
		c.Close()
	}
}

func (l *clientLimitListener) acquire(addr netip.Addr) bool {
	c := l.conns
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[addr] >= l.max {
		return false
	}
	c.open[addr]++
	return true
}

func (l *clientLimitListener) release(addr netip.Addr) {
	c := l.conns
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[addr]--; c.open[addr] <= 0 {
		delete(c.open, addr)
	}
}

// clientAddr is the IP address of c's peer, IPv4 in its 4-byte form; the
// zero Addr when c is not TCP.
func clientAddr(c net.Conn) netip.Addr {
	tcp, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	return tcp.AddrPort().Addr().Unmap()
}

// limitedConn gives its address's slot back when it is closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// ReadFrom keeps the TCP connection's sendfile for NAR downloads.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// CloseWrite keeps net/http's lingering close, which lets a client read an
// answer sent before its request body ended.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
