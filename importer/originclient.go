package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// refusal is the error of a path that is not imported, with its reason;
// other errors stop the import.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(format string, args ...any) error {
	return &refusal{reason: fmt.Sprintf(format, args...)}
}

// ErrUnauthorized is the origin refusing the upload token.
var ErrUnauthorized = errors.New("the origin refuses the upload token")

// originClient talks to the origin's upload API as "nix copy --to" does.
type originClient struct {
	base   string // without a trailing "/"
	token  string
	client *http.Client
}

// do sends a request and returns the status and the first line of the
// answer's body (the origin's one-line reason on a 4xx or 5xx).
func (o *originClient) do(ctx context.Context, method, name, contentType string, body io.Reader, size int64) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, o.base+"/"+name, body)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("origin: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return resp.StatusCode, line, nil
}

// check makes sure, before anything is imported, that the origin takes
// the token and has storeDir for its store directory: the PUT of a
// nix-cache-info naming it, which Nix sends too, changes nothing.
func (o *originClient) check(ctx context.Context, storeDir string) error {
	text := []byte("StoreDir: " + storeDir + "\n")
	status, msg, err := o.do(ctx, http.MethodPut, "nix-cache-info", "text/x-nix-cache-info", bytes.NewReader(text), int64(len(text)))
	switch {
	case err != nil:
		return err
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", ErrUnauthorized, msg)
	case status == http.StatusBadRequest:
		return fmt.Errorf("the origin cannot take this source: %s", msg)
	}
	return fmt.Errorf("origin: PUT nix-cache-info answered %d %s", status, msg)
}

// has reports whether the origin serves the narinfo of hash: then it has
// the path's whole closure too.
func (o *originClient) has(ctx context.Context, hash string) (bool, error) {
	status, msg, err := o.do(ctx, http.MethodHead, hash+".narinfo", "", nil, 0)
	switch {
	case err != nil:
		return false, err
	case status == http.StatusOK:
		return true, nil
	case status == http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("origin: HEAD %s.narinfo answered %d %s", hash, status, msg)
}

// putNar uploads a NAR file of size bytes under name ("nar/<file>").
func (o *originClient) putNar(ctx context.Context, name string, body io.Reader, size int64) error {
	return o.put(ctx, name, "application/x-nix-nar", body, size)
}

// putNarinfo uploads the narinfo of hash, byte for byte.
func (o *originClient) putNarinfo(ctx context.Context, hash string, text []byte) error {
	return o.put(ctx, hash+".narinfo", "text/x-nix-narinfo", bytes.NewReader(text), int64(len(text)))
}

// put uploads a file. A 4xx the origin answers about the file is a
// refusal of its path with the origin's reason; the token refused, a 5xx
// (the origin's stores full, its database down) or a broken connection
// stops the import.
func (o *originClient) put(ctx context.Context, name, contentType string, body io.Reader, size int64) error {
	status, msg, err := o.do(ctx, http.MethodPut, name, contentType, body, size)
	switch {
	case err != nil:
		return err
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s", ErrUnauthorized, msg)
	case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		return refuse("the origin refused %s: %s", name, msg)
	}
	return fmt.Errorf("origin: PUT %s answered %d %s", name, status, msg)
}
