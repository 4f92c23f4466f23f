package origin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// unreadBodyGrace is how long a connection whose request body was refused
// unread stays open after the answer, so that net/http can read a small
// remainder a client had already sent (and the client reads the answer
// instead of a reset) without waiting on a client that sends nothing.
const unreadBodyGrace = 2 * time.Second

// slowUploadError is the error of a request body that brought less than
// its due in a window.
type slowUploadError struct {
	rate   int64 // bytes per second
	window time.Duration
	err    error // the read's own error
}

func (e *slowUploadError) Error() string {
	return fmt.Sprintf("request body arrived slower than %d bytes/s over %s", e.rate, e.window)
}

func (e *slowUploadError) Unwrap() error { return e.err }

// uploadBody is a request body that must keep a minimum rate: each window
// must bring need bytes, enforced with the connection's read deadline,
// which every window's due pushes one window further. A read that hits the
// deadline fails with a *slowUploadError; net/http closes the connection.
type uploadBody struct {
	body   io.ReadCloser
	rc     *http.ResponseController
	rate   int64 // bytes per second
	window time.Duration
	need   int64 // bytes due in each window
	got    int64 // bytes read in the current window
	read   bool  // a Read was called
	eof    bool  // the body was read to its end
}

// limitBody makes r's body an uploadBody, with a first deadline a window
// away: it also bounds the time net/http spends draining a body the
// handler does not read. Requests without a body are left as they are.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request) *uploadBody {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b := &uploadBody{
		body:   r.Body,
		rc:     http.NewResponseController(w),
		rate:   s.cfg.MinUploadRate,
		window: s.cfg.UploadRateWindow,
		need:   max(1, int64(float64(s.cfg.MinUploadRate)*s.cfg.UploadRateWindow.Seconds())),
	}
	b.extend()
	r.Body = b
	return b
}

// extend starts a new window. The error is ignored: a connection that
// cannot take deadlines (not HTTP/1) is left without one.
func (b *uploadBody) extend() {
	b.got = 0
	b.rc.SetReadDeadline(time.Now().Add(b.window))
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if !b.read {
		// The window starts with the first read, not with the checks
		// before it.
		b.read = true
		b.extend()
	}
	n, err := b.body.Read(p)
	b.got += int64(n)
	if b.got >= b.need {
		b.extend()
	}
	switch {
	case err == io.EOF:
		b.eof = true
		// Past the body, a deadline would only cut off the handler's
		// own work: net/http cancels the request when a read fails.
		b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = &slowUploadError{rate: b.rate, window: b.window, err: err}
	}
	return n, err
}

func (b *uploadBody) Close() error { return b.body.Close() }

// refuseUnread prepares the answer to a request whose body the origin did
// not read to its end: the connection closes after the answer, so that
// net/http does not read the rest to reuse it, and gets unreadBodyGrace to
// do so.
func (b *uploadBody) refuseUnread(h http.Header) {
	if b == nil || b.eof {
		return
	}
	h.Set("Connection", "close")
	b.rc.SetReadDeadline(time.Now().Add(unreadBodyGrace))
}
