package origin

import (
	"errors"
	"io"
	"net/http"
)

// readBody reads the whole request body, refusing one over limit bytes with
// 413 and one that breaks off with 400.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, bodyError(err, int64(len(body)), limit)
	}
	return body, nil
}

// tooLarge answers a body of size bytes (-1: unknown) over limit.
func tooLarge(size, limit int64) *httpError {
	if size < 0 {
		return clientError(http.StatusRequestEntityTooLarge,
			"request body is larger than the limit of %d bytes", limit)
	}
	return clientError(http.StatusRequestEntityTooLarge,
		"request body of %d bytes is larger than the limit of %d bytes", size, limit)
}

// bodyError turns the error of reading a request body, after read bytes,
// into the answer.
func bodyError(err error, read, limit int64) *httpError {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge(-1, limit).withDetail(err)
	}
	if slow, ok := errors.AsType[*slowUploadError](err); ok {
		return clientError(http.StatusRequestTimeout, "%v after %d bytes; upload cut off", slow, read).withDetail(err)
	}
	return badRequest("request body ended after %d bytes, before its end", read).withDetail(err)
}

// countingReader counts the bytes read through it and keeps the first read
// error other than io.EOF, so that a failed copy can be blamed on the client
// or not.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}
