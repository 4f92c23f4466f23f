package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/narthex-cache/narthex/narinfo"
)

// The roots API's queries are this file's alone.
var (
	qRootPut      = query("root_put")
	qRootSetPaths = query("root_set_paths")
	qRootList     = query("root_list")
	qRootDelete   = query("root_delete")
)

const (
	// MaxRootPaths bounds the paths of one root: a closure's top paths, a
	// release's outputs, not a whole cache (which would not need a root).
	MaxRootPaths = 10_000
	// maxRootBody bounds a root's request body: MaxRootPaths store paths
	// of the longest name Nix allows, quoted and separated, fit in it.
	maxRootBody = 4 << 20
	// maxNamedMissing is how many paths a refusal names before it counts
	// the rest, so that its reason stays one readable line.
	maxNamedMissing = 5
)

// ErrBadRootName is the reason a name ValidRootName refuses is refused.
var ErrBadRootName = errors.New("a root name is 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', ':', '@', '+' and '-', " +
	"starting with a letter or digit, without \"..\"")

// ValidRootName reports whether name can name a root: 1 to 200 characters
// of [A-Za-z0-9._:@+-], starting with a letter or digit, so that it is one
// element of a URL path that needs no escaping (no "/", and no "..", which
// request paths may not hold), and never looks like a flag.
func ValidRootName(name string) bool {
	if name == "" || len(name) > 200 || strings.Contains(name, "..") || !alnum(name[0]) {
		return false
	}
	for i := range len(name) {
		if !alnum(name[i]) && strings.IndexByte("._:@+-", name[i]) < 0 {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// RootRequest is the body of PUT /api/roots/<name>: the paths the root
// pins (store paths under the cache's store directory, base names
// <hash>-<name> or bare hashes) and at most one of an expiry (RFC 3339)
// and a time to live (a Go duration, from the request on).
type RootRequest struct {
	Paths     []string `json:"paths"`
	ExpiresAt string   `json:"expires_at,omitempty"`
	TTL       string   `json:"ttl,omitempty"`
}

// Root is a root as the API answers it. ExpiresAt is nil for a root that
// does not expire; Expired is decided by the database's clock.
type Root struct {
	Name      string     `json:"name"`
	Paths     []string   `json:"paths"`
	ExpiresAt *time.Time `json:"expires_at"`
	Expired   bool       `json:"expired"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// RootList is the answer to GET /api/roots.
type RootList struct {
	Roots []Root `json:"roots"`
}

// serveRoots answers the roots API; the method and the token are already
// checked. name is "" for /api/roots.
func (s *Server) serveRoots(w http.ResponseWriter, r *http.Request, name string) error {
	if name == "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return clientError(http.StatusMethodNotAllowed, "method %s not allowed on /api/roots; name a root", r.Method).
				withHeader("Allow", "GET, HEAD")
		}
		roots, err := s.readRoots(r.Context(), s.db, nil)
		if err != nil {
			return err
		}
		return writeJSON(w, RootList{Roots: roots})
	}
	if !ValidRootName(name) {
		return badRequest("root name %q: %v", short(name), ErrBadRootName)
	}
	switch r.Method {
	case http.MethodPut:
		return s.putRoot(w, r, name)
	case http.MethodDelete:
		tag, err := s.db.Exec(r.Context(), qRootDelete, name)
		if err != nil {
			return fmt.Errorf("delete root: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return clientError(http.StatusNotFound, "no root named %s", name)
		}
		s.log.Info("root removed", "root", name)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	roots, err := s.readRoots(r.Context(), s.db, &name)
	if err != nil {
		return err
	}
	if len(roots) == 0 {
		return clientError(http.StatusNotFound, "no root named %s", name)
	}
	return writeJSON(w, roots[0])
}

// putRoot creates the root name or replaces its paths and expiry, all in
// one transaction, and answers with the root as stored. Every path must be
// in the cache (withdrawn ones are); otherwise nothing changes.
func (s *Server) putRoot(w http.ResponseWriter, r *http.Request, name string) error {
	body, err := readBody(w, r, maxRootBody)
	if err != nil {
		return err
	}
	paths, expires, err := s.parseRootRequest(body, time.Now())
	if err != nil {
		return err
	}
	hashes, err := s.presentRootPaths(r.Context(), paths)
	if err != nil {
		return err
	}
	if s.beforeRootWrite != nil {
		s.beforeRootWrite(r.Context())
	}
	var root Root
	err = pgx.BeginFunc(r.Context(), s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(r.Context(), qRootPut, name, expires); err != nil {
			return err
		}
		if _, err := tx.Exec(r.Context(), qRootSetPaths, name, hashes); err != nil {
			return err
		}
		roots, err := s.readRoots(r.Context(), tx, &name)
		if err != nil {
			return err
		}
		if len(roots) != 1 {
			return fmt.Errorf("root %s not found after writing it", name)
		}
		root = roots[0]
		return nil
	})
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == sqlstateForeignKeyViolation {
		// A collection deleted a path between the check and the insert.
		return badRequest("a path of root %s is not in the cache (deleted just now); nothing was recorded", name).
			withDetail(err)
	}
	if err != nil {
		return fmt.Errorf("write root: %w", err)
	}
	s.log.Info("root written", "root", name, "paths", len(hashes), "expires_at", expires)
	return writeJSON(w, root)
}

// rootPath is a path of a root request, as the client wrote it and parsed.
type rootPath struct {
	given string
	hash  string
	name  string // "" when given as a bare hash
}

// parseRootRequest parses and checks a PUT body, at now: the paths and the
// expiry (nil: none).
func (s *Server) parseRootRequest(body []byte, now time.Time) ([]rootPath, *time.Time, error) {
	var req RootRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	// A misspelt "expires_at" must not make a root that never expires.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, nil, badRequest("request body is not a root (%s): %v", `{"paths": [...], "expires_at" or "ttl"}`, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, badRequest("request body goes on after its JSON object")
	}
	switch {
	case len(req.Paths) == 0:
		return nil, nil, badRequest("a root needs at least one path")
	case len(req.Paths) > MaxRootPaths:
		return nil, nil, badRequest("a root has at most %d paths, not %d", MaxRootPaths, len(req.Paths))
	}
	var expires *time.Time
	switch {
	case req.ExpiresAt != "" && req.TTL != "":
		return nil, nil, badRequest("give expires_at or ttl, not both")
	case req.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil {
			return nil, nil, badRequest("expires_at %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", short(req.ExpiresAt))
		}
		expires = &t
	case req.TTL != "":
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return nil, nil, badRequest("ttl %q is not a positive duration (90m, 720h)", short(req.TTL))
		}
		t := now.Add(d)
		expires = &t
	}
	if expires != nil && !expires.After(now) {
		return nil, nil, badRequest("expires_at %s is in the past", expires.UTC().Format(time.RFC3339))
	}
	paths := make([]rootPath, len(req.Paths))
	for i, given := range req.Paths {
		hash, name, err := s.parseRootPath(given)
		if err != nil {
			return nil, nil, badRequest("path %q: %v", short(given), err)
		}
		paths[i] = rootPath{given: given, hash: hash, name: name}
	}
	return paths, expires, nil
}

// parseRootPath returns the hash of a path a root names, and its name
// unless it was given as a bare hash.
func (s *Server) parseRootPath(p string) (hash, name string, err error) {
	switch {
	case narinfo.ValidHash(p):
		return p, "", nil
	case strings.HasPrefix(p, "/"):
		return narinfo.ParseStorePath(s.cfg.StoreDir, p)
	}
	return narinfo.ParseBaseName(p)
}

// presentRootPaths returns the distinct hashes of paths (a path given twice,
// or as a hash and as a path, counts once), refusing with 400 when any is
// not in the cache (no narinfo of its hash, or one of another name). The
// read takes no lock: the foreign key catches a path deleted before the
// insert.
func (s *Server) presentRootPaths(ctx context.Context, paths []rootPath) ([]string, error) {
	hashes := make([]string, 0, len(paths))
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if !seen[p.hash] {
			seen[p.hash] = true
			hashes = append(hashes, p.hash)
		}
	}
	rows, err := s.db.Query(ctx, qPresentPaths, hashes)
	if err != nil {
		return nil, fmt.Errorf("read paths: %w", err)
	}
	present := make(map[string]string, len(hashes))
	var hash, name string
	_, err = pgx.ForEachRow(rows, []any{&hash, &name}, func() error {
		present[hash] = name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read paths: %w", err)
	}
	var missing []string
	for _, p := range paths {
		if stored, ok := present[p.hash]; !ok || p.name != "" && p.name != stored {
			missing = append(missing, short(p.given))
		}
	}
	if len(missing) == 0 {
		return hashes, nil
	}
	msg := strings.Join(missing[:min(len(missing), maxNamedMissing)], ", ")
	if len(missing) > maxNamedMissing {
		msg += fmt.Sprintf(" and %d more", len(missing)-maxNamedMissing)
	}
	if len(missing) == 1 {
		return nil, badRequest("not in the cache: %s; nothing was recorded", msg)
	}
	return nil, badRequest("%d paths are not in the cache: %s; nothing was recorded", len(missing), msg)
}

// querier is what readRoots reads with: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readRoots reads with q the root named *name, or all of them for nil, by
// name.
func (s *Server) readRoots(ctx context.Context, q querier, name *string) ([]Root, error) {
	rows, err := q.Query(ctx, qRootList, name)
	if err != nil {
		return nil, fmt.Errorf("read roots: %w", err)
	}
	roots := []Root{}
	var rt Root
	var bases []string
	_, err = pgx.ForEachRow(rows, []any{&rt.Name, &rt.ExpiresAt, &rt.Expired, &rt.CreatedAt, &rt.UpdatedAt, &bases}, func() error {
		root := rt
		root.CreatedAt, root.UpdatedAt = root.CreatedAt.UTC(), root.UpdatedAt.UTC()
		if root.ExpiresAt != nil {
			t := root.ExpiresAt.UTC()
			root.ExpiresAt = &t
		}
		root.Paths = make([]string, len(bases))
		for i, b := range bases {
			root.Paths[i] = s.cfg.StoreDir + "/" + b
		}
		roots = append(roots, root)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read roots: %w", err)
	}
	return roots, nil
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	writeBody(w, http.StatusOK, "application/json", append(b, '\n'))
	return nil
}
