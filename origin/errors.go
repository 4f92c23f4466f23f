package origin

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// httpError is an error with the status and the one-line message a client
// sees. The wrapped error, if any, is detail for the log only.
type httpError struct {
	status int
	msg    string
	header http.Header // extra response headers (Allow, WWW-Authenticate)
	err    error
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *httpError) Unwrap() error { return e.err }

// clientError returns an error answered with status and the formatted
// message.
func clientError(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *httpError {
	return clientError(http.StatusBadRequest, format, args...)
}

// withDetail sets the error logged with e.
func (e *httpError) withDetail(err error) *httpError {
	e.err = err
	return e
}

// withHeader adds a response header to e.
func (e *httpError) withHeader(key, value string) *httpError {
	if e.header == nil {
		e.header = http.Header{}
	}
	e.header.Set(key, value)
	return e
}

// writeError is the one place an error becomes a response: the status and
// one-line message of an httpError, a 503 or 507 for the failures classify
// recognizes, or 500 for anything else. The detail is logged; a response
// that has already started is left as it is. A request body left unread
// closes the connection after the answer.
func (s *Server) writeError(w *statusWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "internal server error"
	he, ok := errors.AsType[*httpError](err)
	if !ok {
		he = classify(err)
	}
	if he != nil {
		status, msg = he.status, he.msg
	}
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status == http.StatusNotFound:
		level = slog.LevelDebug // misses are the common case, not news
	}
	s.log.Log(r.Context(), level, "request failed",
		"method", r.Method, "path", r.URL.EscapedPath(), "status", status, "err", err)
	s.metrics.requestErrors.WithLabelValues(strconv.Itoa(status)).Inc()
	if w.wrote {
		return
	}
	w.body.refuseUnread(w.Header())
	if he != nil {
		for k, v := range he.header {
			w.Header()[k] = v
		}
	}
	writeBody(w, status, "text/plain; charset=utf-8", []byte(oneLine(msg)+"\n"))
}

// oneLine replaces the line breaks in msg with spaces.
func oneLine(msg string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, msg)
}

// writeBody answers with status and body, always with a Content-Length.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// statusWriter remembers the status of the response written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   *uploadBody // the request's body, nil when it has none
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps the underlying writer's ReadFrom (sendfile) for io.Copy.
func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
