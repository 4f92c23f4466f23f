package loadtest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// dialTimeout bounds connecting to a loopback server.
const dialTimeout = 5 * time.Second

// httpConn is one keep-alive HTTP/1.1 connection that sends prebuilt
// requests and reads the answers with fasthttp's parser: kept alive, it
// allocates nothing after the first request. It reconnects after an error
// or an answer with "Connection: close", or after every answer when once
// is set (each connection allocating its own). Not safe for concurrent use.
type httpConn struct {
	addr     string      // host:port
	source   net.Addr    // the local address to connect from; nil for any
	tls      *tls.Config // HTTPS when set
	deadline time.Time   // no read or write may go past it
	nc       net.Conn
	br       *bufio.Reader
	resp     fasthttp.Response
	reused   bool // nc has answered a request already
	// once closes the connection after each answer, so that the next
	// request connects (and, over TLS, shakes hands) anew.
	once bool
	// dials counts the connections made.
	dials int64
}

func newHTTPConn(addr string, deadline time.Time) *httpConn {
	return &httpConn{addr: addr, deadline: deadline}
}

func (c *httpConn) dial() error {
	d := net.Dialer{Timeout: dialTimeout, Deadline: c.deadline, LocalAddr: c.source}
	nc, err := d.Dial("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := nc.SetDeadline(c.deadline); err != nil {
		nc.Close()
		return err
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	c.nc, c.reused = nc, false
	c.dials++
	return nil
}

// do sends req, a complete HTTP/1.1 request, and reads the answer, whose
// status it returns; the body is c.resp.Body() until the next call. A
// connection the server closed while idle is retried once on a new one.
func (c *httpConn) do(req []byte) (int, error) {
	status, err := c.roundTrip(req)
	if errors.Is(err, errIdleClosed) {
		status, err = c.roundTrip(req)
	}
	return status, err
}

// errIdleClosed marks a kept-alive connection that ended before any answer.
var errIdleClosed = errors.New("connection closed by the server")

func (c *httpConn) roundTrip(req []byte) (int, error) {
	if c.nc == nil {
		if err := c.dial(); err != nil {
			return 0, err
		}
	}
	if _, err := c.nc.Write(req); err != nil {
		return 0, c.fail("write", err)
	}
	if err := c.resp.Read(c.br); err != nil {
		return 0, c.fail("read", err)
	}
	c.reused = true
	status := c.resp.StatusCode()
	if c.once || c.resp.ConnectionClose() {
		c.close()
	}
	return status, nil
}

func (c *httpConn) fail(op string, err error) error {
	reused := c.reused
	c.close()
	if reused && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return fmt.Errorf("%s: %w", op, errIdleClosed)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func (c *httpConn) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// getRequest is a GET request for <prefix>/<hash><suffix> with a slot for
// the 32-character hash, rewritten in place for each request.
type getRequest struct {
	buf  []byte
	slot int
}

func newGetRequest(host, prefix, suffix string) *getRequest {
	return newGetRequestHeaders(host, prefix, suffix, "")
}

// newGetRequestHeaders is newGetRequest with more header lines, each
// ending in "\r\n".
func newGetRequestHeaders(host, prefix, suffix, headers string) *getRequest {
	b := []byte("GET " + prefix + "/")
	slot := len(b)
	b = append(b, make([]byte, HashLen)...)
	b = append(b, suffix+" HTTP/1.1\r\nHost: "+host+"\r\nUser-Agent: narthex-loadtest\r\n"+headers+"\r\n"...)
	return &getRequest{buf: b, slot: slot}
}

// with returns the request for hash; the result is valid until the next call.
func (r *getRequest) with(hash []byte) []byte {
	copy(r.buf[r.slot:r.slot+HashLen], hash)
	return r.buf
}

// withString is with for a hash held in a string, also without allocating.
func (r *getRequest) withString(hash string) []byte {
	copy(r.buf[r.slot:r.slot+HashLen], hash)
	return r.buf
}

// plainGet is a GET request for path, without a hash slot.
func plainGet(host, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: narthex-loadtest\r\n\r\n")
}
