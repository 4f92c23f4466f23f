package edge

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"

	"github.com/valyala/fasthttp"
)

// errBodyOnGet refuses a GET or HEAD that announces a body: an edge has
// no use for one, and a client that sends one is confused or smuggling.
var errBodyOnGet = errors.New("body on a GET or HEAD request")

var (
	headerConnection       = []byte("Connection")
	keepAlive              = []byte("keep-alive")
	headerTransferEncoding = []byte("Transfer-Encoding")
)

// maxPendingAnswers is how many bytes of answers a connection may have
// waiting to be written before its pipelined requests are left unread: a
// client that sends and never reads holds no more than that.
const maxPendingAnswers = 256 << 10

// exchange answers the requests buffered from a connection of an event
// loop, one request at a time, with Server.Handle. The loop frames the
// requests (headerEnd) and fasthttp parses their headers and writes the
// answers, with the bytes and the choices of fasthttp's own server
// (Content-Length on HEAD, Connection headers). It is owned by one loop
// and reused for every request, so an answer allocates nothing.
type exchange struct {
	s   *Server
	ctx fasthttp.RequestCtx
	src bytes.Reader
	br  *bufio.Reader
	bw  *bufio.Writer
	w   appender
}

// appender is an io.Writer that appends to the answers of the connection
// being served.
type appender struct{ out *[]byte }

func (a *appender) Write(p []byte) (int, error) {
	*a.out = append(*a.out, p...)
	return len(p), nil
}

func newExchange(s *Server) *exchange {
	x := &exchange{s: s}
	x.br = bufio.NewReaderSize(&x.src, 2*maxRequestHeader)
	x.bw = bufio.NewWriterSize(&x.w, 4<<10)
	x.ctx.Init2(nil, fasthttpLogger{s.log}, false)
	x.reset()
	return x
}

// headerEnd returns the length of the request line and header at the start
// of b, up to and including the empty line that ends them (CRLF or LF), or
// -1 if b does not hold all of them yet. ok is false if they are longer
// than max bytes.
func headerEnd(b []byte, max int) (n int, ok bool) {
	lim := b
	if len(lim) > max {
		lim = lim[:max]
	}
	for i := 0; ; {
		k := bytes.IndexByte(lim[i:], '\n')
		if k < 0 {
			break
		}
		i += k + 1
		switch {
		case i < len(lim) && lim[i] == '\n':
			return i + 1, true
		case i+1 < len(lim) && lim[i] == '\r' && lim[i+1] == '\n':
			return i + 2, true
		}
	}
	if len(b) >= max {
		return -1, false
	}
	return -1, true
}

// serve answers the complete requests at the start of in, in order,
// appending the answers to *out. It returns how many bytes of in it used,
// and whether the connection must be closed once *out is written: the
// client asked for it, HTTP/1.0 without keep-alive, a request that could
// not be read (answered 400, 413 or 431), a body that cannot be framed, or
// stop. It stops early, leaving requests in in, once *out holds
// maxPendingAnswers bytes.
func (x *exchange) serve(in []byte, out *[]byte, stop bool) (used int, closeConn bool) {
	x.w.out = out
	for used < len(in) && len(*out) < maxPendingAnswers {
		rest := in[used:]
		// Clients may send an empty line between requests (RFC 9112 2.2).
		if rest[0] == '\n' {
			used++
			continue
		}
		if rest[0] == '\r' {
			if len(rest) == 1 {
				return used, false
			}
			if rest[1] == '\n' {
				used += 2
				continue
			}
		}
		end, ok := headerEnd(rest, maxRequestHeader)
		if !ok {
			return len(in), x.fail(&fasthttp.ErrSmallBuffer{})
		}
		if end < 0 {
			return used, false
		}
		req := &x.ctx.Request
		x.src.Reset(rest[:end])
		x.br.Reset(&x.src)
		if err := req.Header.Read(x.br); err != nil {
			return len(in), x.fail(err)
		}
		get := req.Header.IsGet() || req.Header.IsHead()
		// fasthttp says -1 for a chunked body, -2 for none stated.
		body := req.Header.ContentLength()
		unframed := body == -1 || len(req.Header.PeekBytes(headerTransferEncoding)) > 0
		switch {
		case unframed && get:
			return len(in), x.fail(errBodyOnGet)
		case unframed:
			// An upload in chunks is refused unread: the answer is
			// sent, then the connection closed.
			body = 0
		case body < 0:
			body = 0
		case body > maxRequestBody:
			return len(in), x.fail(fasthttp.ErrBodyTooLarge)
		case body > 0 && get:
			return len(in), x.fail(errBodyOnGet)
		case end+body > len(rest):
			x.reset() // read again once the body is in
			return used, false
		}
		used += end + body
		closeConn = stop || unframed || req.Header.ConnectionClose() ||
			(!req.Header.IsHTTP11() && !bytes.EqualFold(req.Header.PeekBytes(headerConnection), keepAlive))
		x.s.Handle(&x.ctx)
		x.write(closeConn)
		if closeConn {
			return used, true
		}
	}
	return used, false
}

// answerInto answers the complete requests in data (a read buffer, or
// *in itself) into *out, and keeps in *in what is left of data. It
// returns whether the connection must close once *out is written, and
// whether a new request (or none) begins, which restarts the connection's
// timeout.
func (x *exchange) answerInto(data []byte, in, out *[]byte, stop bool) (closeConn, begins bool) {
	wasIdle := len(*in) == 0
	used, closeConn := x.serve(data, out, stop)
	if closeConn {
		*in = (*in)[:0]
	} else {
		*in = append((*in)[:0], data[used:]...) // memmove: data may be *in
	}
	return closeConn, closeConn || len(*in) == 0 || used > 0 || wasIdle
}

// write appends the answer to the request just handled, as fasthttp's
// server writes it.
func (x *exchange) write(closeConn bool) {
	resp := &x.ctx.Response
	if x.ctx.IsHead() {
		resp.SkipBody = true
	}
	if closeConn {
		resp.Header.SetConnectionClose()
	} else if !x.ctx.Request.Header.IsHTTP11() {
		resp.Header.SetBytesKV(headerConnection, keepAlive)
	}
	start := len(*x.w.out)
	if err := resp.Write(x.bw); err == nil {
		err = x.bw.Flush()
	}
	*x.w.out = (*x.w.out)[:start+withoutDate((*x.w.out)[start:])]
	x.reset()
}

// reset readies the exchange for the next request, with the settings of
// the edge's fasthttp server, which Reset clears.
func (x *exchange) reset() {
	x.ctx.Request.Reset()
	x.ctx.Response.Reset()
	x.ctx.Request.Header.DisableNormalizing()
	x.ctx.Response.Header.DisableNormalizing()
	x.ctx.Request.Header.SetNoDefaultContentType(true)
	x.ctx.Response.Header.SetNoDefaultContentType(true)
}

var headerDate = []byte("\r\nDate: ")

// withoutDate removes the Date header from the answer in b, and returns
// its new length. The edge's fasthttp server sends none (NoDefaultDate),
// a setting fasthttp keeps to its own server; a Date is of no use to
// Nix or Guix, and a CDN adds its own.
func withoutDate(b []byte) int {
	// fasthttp writes Date right after the status line and Server, which
	// the edge does not send.
	i := bytes.IndexByte(b, '\n') - 1
	if i < 0 || !bytes.HasPrefix(b[i:], headerDate) {
		return len(b)
	}
	j := bytes.IndexByte(b[i+2:], '\n')
	if j < 0 {
		return len(b)
	}
	return i + copy(b[i:], b[i+2+j-1:])
}

// fail answers a request that could not be read as fasthttp's server
// does (requestError), and says to close the connection.
func (x *exchange) fail(err error) bool {
	x.ctx.Response.Reset()
	x.ctx.Response.Header.DisableNormalizing()
	x.ctx.Response.Header.SetNoDefaultContentType(true)
	x.s.log.Debug("unreadable request", slog.Any("error", err))
	requestError(&x.ctx, err)
	x.write(true)
	return true
}
