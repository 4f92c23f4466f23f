package origin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/narthex-cache/narthex/narinfo"
)

// uploadPaths uploads a path of each name, without references, and returns
// their narinfos.
func (h *harness) uploadPaths(names ...string) []*narinfo.NarInfo {
	h.t.Helper()
	infos := make([]*narinfo.NarInfo, len(names))
	for i, name := range names {
		n := newNar("payload of "+name, ".xz")
		h.putNar(n)
		infos[i] = nixInfo(name, n)
		h.putInfo(infos[i])
	}
	return infos
}

// putRoot sends PUT /api/roots/<name> with body as JSON.
func (h *harness) putRoot(name string, body any) response {
	h.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(http.MethodPut, "/api/roots/"+name, b, "Content-Type", "application/json")
}

// decodeRoot decodes an answer that must be a 200 with one root.
func decodeRoot(t *testing.T, r response) Root {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %q; want 200 with a root", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var root Root
	if err := json.Unmarshal([]byte(r.body), &root); err != nil {
		t.Fatalf("answer %q: %v", r.body, err)
	}
	return root
}

// rootRows is everything stored about roots, as text, for comparisons.
func (h *harness) rootRows() []string {
	h.t.Helper()
	rows, err := h.db.Query(h.t.Context(), `
		SELECT r.name || ' ' || coalesce(r.expires_at::text, '-') || ' ' || r.updated_at::text || ' ' ||
		       coalesce(string_agg(p.narinfo_hash, ',' ORDER BY p.narinfo_hash), '')
		FROM root r LEFT JOIN root_path p ON p.root = r.name
		GROUP BY r.name ORDER BY r.name`)
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func storePath(ni *narinfo.NarInfo) string { return narinfo.NixStoreDir + "/" + base(ni) }

// sortedPaths is the store paths of infos in the order roots list them.
func sortedPaths(infos ...*narinfo.NarInfo) []string {
	infos = slices.Clone(infos)
	slices.SortFunc(infos, func(a, b *narinfo.NarInfo) int { return strings.Compare(a.Hash, b.Hash) })
	out := make([]string, len(infos))
	for i, ni := range infos {
		out[i] = storePath(ni)
	}
	return out
}

// TestRoots_Lifecycle creates roots with each way of naming a path and of
// giving an expiry, lists and reads them, replaces one, and removes it.
func TestRoots_Lifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.uploadPaths("a", "b", "c")
	a, b, c := p[0], p[1], p[2]

	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	rel := decodeRoot(t, h.putRoot("release-1", RootRequest{
		Paths:     []string{storePath(a), base(b), b.Hash},
		ExpiresAt: expires.Format(time.RFC3339),
	}))
	if rel.Name != "release-1" || !slices.Equal(rel.Paths, sortedPaths(a, b)) ||
		rel.ExpiresAt == nil || !rel.ExpiresAt.Equal(expires) || rel.Expired {
		t.Errorf("created root %+v; want release-1 with %v, expiring at %s", rel, sortedPaths(a, b), expires)
	}
	before := time.Now()
	ci := decodeRoot(t, h.putRoot("ci:main@2+x", RootRequest{Paths: []string{c.Hash}, TTL: "1h"}))
	if ci.ExpiresAt == nil || ci.ExpiresAt.Before(before.Add(time.Hour-time.Minute)) || ci.ExpiresAt.After(time.Now().Add(time.Hour+time.Minute)) {
		t.Errorf("root with ttl 1h expires at %v, want about an hour from now", ci.ExpiresAt)
	}

	var list RootList
	r := h.do(http.MethodGet, "/api/roots", nil)
	if err := json.Unmarshal([]byte(r.body), &list); r.status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/roots = %d %q (%v)", r.status, r.body, err)
	}
	if diff := cmp.Diff(RootList{Roots: []Root{ci, rel}}, list); diff != "" {
		t.Errorf("GET /api/roots (-want +got):\n%s", diff)
	}
	if got := decodeRoot(t, h.do(http.MethodGet, "/api/roots/release-1", nil)); !cmp.Equal(got, rel) {
		t.Errorf("GET /api/roots/release-1 = %+v, want %+v", got, rel)
	}
	if r := h.do(http.MethodHead, "/api/roots/release-1", nil); r.status != http.StatusOK || r.body != "" {
		t.Errorf("HEAD = %d %q, want 200 without a body", r.status, r.body)
	}

	// A replacement keeps nothing of the old set, nor the expiry.
	repl := decodeRoot(t, h.putRoot("release-1", RootRequest{Paths: []string{storePath(c)}}))
	if !slices.Equal(repl.Paths, []string{storePath(c)}) || repl.ExpiresAt != nil ||
		!repl.CreatedAt.Equal(rel.CreatedAt) || repl.UpdatedAt.Before(rel.UpdatedAt) {
		t.Errorf("replaced root %+v; want only %s, no expiry, created at %s", repl, storePath(c), rel.CreatedAt)
	}
	var stored []string
	rows, _ := h.db.Query(t.Context(), "SELECT narinfo_hash FROM root_path WHERE root = 'release-1'")
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || !slices.Equal(stored, []string{c.Hash}) {
		t.Errorf("root_path of release-1 = %v (%v), want only %s", stored, err, c.Hash)
	}

	if r := h.do(http.MethodDelete, "/api/roots/release-1", nil); r.status != http.StatusNoContent {
		t.Errorf("DELETE = %d %q, want 204", r.status, r.body)
	}
	checkError(t, h.do(http.MethodGet, "/api/roots/release-1", nil), http.StatusNotFound, "no root named release-1")
	checkError(t, h.do(http.MethodDelete, "/api/roots/release-1", nil), http.StatusNotFound, "no root named release-1")
	if got := h.rootRows(); len(got) != 1 || !strings.HasPrefix(got[0], "ci:main@2+x ") {
		t.Errorf("roots left: %q, want ci:main@2+x alone", got)
	}
}

// TestRoots_Refused sends roots the origin must refuse, each of which
// leaves the stored root as it was.
func TestRoots_Refused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.uploadPaths("a", "b")
	a, b := p[0], p[1]
	decodeRoot(t, h.putRoot("keep", RootRequest{Paths: []string{storePath(a)}, TTL: "24h"}))
	absent := storeHash("absent")
	many, _ := json.Marshal(RootRequest{Paths: slices.Repeat([]string{a.Hash}, MaxRootPaths+1)})
	tests := []struct {
		name   string
		root   string // "" for "keep"
		body   string
		status int
		want   string
	}{
		{name: "unknown path", body: `{"paths": ["` + storePath(b) + `", "/nix/store/` + absent + `-x"]}`,
			status: 400, want: "not in the cache: /nix/store/" + absent + "-x; nothing was recorded"},
		{name: "unknown paths", body: `{"paths": ["` + absent + `", "` + storeHash("1") + `", "` + storeHash("2") + `", "` +
			storeHash("3") + `", "` + storeHash("4") + `", "` + storeHash("5") + `", "` + b.Hash + `"]}`,
			status: 400, want: "6 paths are not in the cache: " + absent + ", "},
		{name: "known hash, other name", body: `{"paths": ["` + a.Hash + `-other"]}`, status: 400, want: "not in the cache: " + a.Hash + "-other"},
		{name: "other store dir", body: `{"paths": ["/gnu/store/` + base(a) + `"]}`, status: 400, want: "wrong store dir"},
		{name: "subpath", body: `{"paths": ["` + storePath(a) + `/bin/sh"]}`, status: 400, want: "path "},
		{name: "not a path", body: `{"paths": ["hello"]}`, status: 400, want: `path "hello"`},
		{name: "empty paths", body: `{"paths": []}`, status: 400, want: "at least one path"},
		{name: "no paths", body: `{"ttl": "1h"}`, status: 400, want: "at least one path"},
		{name: "too many paths", body: string(many), status: 400, want: "at most 10000 paths"},
		{name: "bad JSON", body: `{"paths": [`, status: 400, want: "request body is not a root"},
		{name: "paths not a list", body: `{"paths": "` + a.Hash + `"}`, status: 400, want: "request body is not a root"},
		{name: "unknown field", body: `{"paths": ["` + a.Hash + `"], "expires": "2999-01-01T00:00:00Z"}`, status: 400, want: `unknown field "expires"`},
		{name: "two objects", body: `{"paths": ["` + a.Hash + `"]} {}`, status: 400, want: "goes on after its JSON object"},
		{name: "ttl and expires_at", body: `{"paths": ["` + a.Hash + `"], "ttl": "1h", "expires_at": "2999-01-01T00:00:00Z"}`,
			status: 400, want: "expires_at or ttl, not both"},
		{name: "past expiry", body: `{"paths": ["` + a.Hash + `"], "expires_at": "2001-01-01T00:00:00Z"}`,
			status: 400, want: "expires_at 2001-01-01T00:00:00Z is in the past"},
		{name: "bad expiry", body: `{"paths": ["` + a.Hash + `"], "expires_at": "tomorrow"}`, status: 400, want: "not an RFC 3339 time"},
		{name: "negative ttl", body: `{"paths": ["` + a.Hash + `"], "ttl": "-1h"}`, status: 400, want: "not a positive duration"},
		{name: "bad ttl", body: `{"paths": ["` + a.Hash + `"], "ttl": "a week"}`, status: 400, want: "not a positive duration"},
		{name: "name with a dot first", root: ".x", body: `{"paths": ["` + a.Hash + `"]}`, status: 400, want: "root name"},
		{name: "name with a space", root: "a%20b", body: `{"paths": ["` + a.Hash + `"]}`, status: 400, want: "invalid request path"},
		{name: "name with a comma", root: "a,b", body: `{"paths": ["` + a.Hash + `"]}`, status: 400, want: "root name"},
		{name: "name too long", root: strings.Repeat("x", 201), body: `{"paths": ["` + a.Hash + `"]}`, status: 400, want: "root name"},
		{name: "name with a slash", root: "a/b", body: `{"paths": ["` + a.Hash + `"]}`, status: 404, want: "not found"},
		{name: "no name", root: "/", body: `{"paths": ["` + a.Hash + `"]}`, status: 404, want: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.in(t)
			before := h.rootRows()
			root := tt.root
			switch root {
			case "":
				root = "keep"
			case "/":
				root = ""
			}
			r := h.do(http.MethodPut, "/api/roots/"+root, []byte(tt.body))
			checkError(t, r, tt.status, tt.want)
			if diff := cmp.Diff(before, h.rootRows()); diff != "" {
				t.Errorf("roots changed (-before +after):\n%s", diff)
			}
		})
	}
	if got := decodeRoot(t, h.do(http.MethodGet, "/api/roots/keep", nil)); !slices.Equal(got.Paths, []string{storePath(a)}) {
		t.Errorf("keep has %v after the refusals, want %s alone", got.Paths, storePath(a))
	}
	checkError(t, h.do(http.MethodGet, "/api/roots/.x", nil), http.StatusBadRequest, "root name")
	checkError(t, h.do(http.MethodDelete, "/api/roots/a,b", nil), http.StatusBadRequest, "root name")
}

// TestRoots_Token checks that every method needs a valid upload token and
// that other methods are answered 405.
func TestRoots_Token(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.uploadPaths("a")[0]
	decodeRoot(t, h.putRoot("keep", RootRequest{Paths: []string{a.Hash}}))
	body := []byte(`{"paths": ["` + a.Hash + `"]}`)
	before := h.rootRows()
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, auth := range []string{"-", "Bearer narthex_WRONG", basic("nix", "narthex_WRONG")} {
		for _, req := range []struct{ method, path string }{
			{"GET", "/api/roots"}, {"HEAD", "/api/roots"}, {"GET", "/api/roots/keep"},
			{"PUT", "/api/roots/keep"}, {"PUT", "/api/roots/new"}, {"DELETE", "/api/roots/keep"},
		} {
			r := h.do(req.method, req.path, body, "Authorization", auth)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with Authorization %q = %d %q, want 401 with WWW-Authenticate", req.method, req.path, auth, r.status, r.body)
			}
		}
	}
	// Basic credentials are accepted as for uploads.
	r := h.do(http.MethodGet, "/api/roots/keep", nil, "Authorization", basic("nix", h.token))
	decodeRoot(t, r)
	for _, path := range []string{"/api/roots", "/api/roots/keep"} {
		r := h.do(http.MethodPost, path, body)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, PUT, DELETE" {
			t.Errorf("POST %s = %d, Allow %q; want 405 with GET, HEAD, PUT, DELETE", path, r.status, r.header.Get("Allow"))
		}
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		r := h.do(method, "/api/roots", body)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /api/roots = %d, Allow %q; want 405 with GET, HEAD", method, r.status, r.header.Get("Allow"))
		}
	}
	if diff := cmp.Diff(before, h.rootRows()); diff != "" {
		t.Errorf("roots changed (-before +after):\n%s", diff)
	}
	if m := h.do(http.MethodGet, "/metrics", nil).body; !strings.Contains(m, `route="roots"`) {
		t.Errorf("/metrics counts no requests of route roots")
	}
}

// TestRoots_ExpiredAndWithdrawn checks that a root past its expiry is
// reported expired, and that a withdrawn path, which is still in the
// cache, can be rooted.
func TestRoots_ExpiredAndWithdrawn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.uploadPaths("a", "b")
	decodeRoot(t, h.putRoot("old", RootRequest{Paths: []string{p[0].Hash}, TTL: "1h"}))
	if _, err := h.db.Exec(t.Context(), "UPDATE root SET expires_at = now() - interval '1 minute' WHERE name = 'old'"); err != nil {
		t.Fatal(err)
	}
	if got := decodeRoot(t, h.do(http.MethodGet, "/api/roots/old", nil)); !got.Expired {
		t.Errorf("root past its expiry: %+v, want expired", got)
	}
	if _, err := h.db.Exec(t.Context(), "UPDATE narinfo SET withdrawn = true WHERE hash = $1", p[1].Hash); err != nil {
		t.Fatal(err)
	}
	if got := decodeRoot(t, h.putRoot("withdrawn", RootRequest{Paths: []string{storePath(p[1])}})); got.Expired ||
		!slices.Equal(got.Paths, []string{storePath(p[1])}) {
		t.Errorf("root of a withdrawn path: %+v", got)
	}
}

// TestRoots_RootedPathCannotBeDeleted checks what collection relies on: the
// database refuses to delete a rooted path, and deletes it once its root is
// removed.
func TestRoots_RootedPathCannotBeDeleted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.uploadPaths("a")[0]
	decodeRoot(t, h.putRoot("pin", RootRequest{Paths: []string{a.Hash}}))
	_, err := h.db.Exec(t.Context(), "DELETE FROM narinfo WHERE hash = $1", a.Hash)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != sqlstateForeignKeyViolation {
		t.Fatalf("delete of a rooted path: %v, want a foreign key violation", err)
	}
	if r := h.do(http.MethodDelete, "/api/roots/pin", nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %q", r.status, r.body)
	}
	if _, err := h.db.Exec(t.Context(), "DELETE FROM narinfo WHERE hash = $1", a.Hash); err != nil {
		t.Errorf("delete of a path whose root was removed: %v", err)
	}
}

// TestRoots_PathDeletedDuringWrite deletes a path between the check of a
// root's paths and their insert, as a concurrent collection may: the root
// is refused as for a path not in the cache, and nothing is recorded.
func TestRoots_PathDeletedDuringWrite(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.uploadPaths("a", "b")
	decodeRoot(t, h.putRoot("r", RootRequest{Paths: []string{p[0].Hash}}))
	before := h.rootRows()
	h.srv.beforeRootWrite = func(ctx context.Context) {
		if _, err := h.db.Exec(ctx, "DELETE FROM narinfo WHERE hash = $1", p[1].Hash); err != nil {
			t.Errorf("delete during the write: %v", err)
		}
	}
	r := h.putRoot("r", RootRequest{Paths: []string{p[1].Hash}, TTL: "1h"})
	checkError(t, r, http.StatusBadRequest, "is not in the cache (deleted just now); nothing was recorded")
	if diff := cmp.Diff(before, h.rootRows()); diff != "" {
		t.Errorf("roots changed (-before +after):\n%s", diff)
	}
}

func TestParseRoute_Roots(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path   string
		want   route
		status int
	}{
		{"/api/roots", route{kind: routeRoots}, 0},
		{"/api/roots/release-1", route{kind: routeRoots, name: "release-1"}, 0},
		{"/api/roots/a:b@c+d", route{kind: routeRoots, name: "a:b@c+d"}, 0},
		{"/api/roots/", route{}, 404},
		{"/api/roots/a/b", route{}, 404},
		{"/api/rootsx", route{}, 404},
		{"/api/roots/a..b", route{}, 400},
	}
	for _, tt := range tests {
		got, err := parseRoute(tt.path, tt.path)
		status := 0
		if he, ok := err.(*httpError); ok {
			status = he.status
		}
		if got != tt.want || status != tt.status {
			t.Errorf("parseRoute(%q) = %+v, %d; want %+v, %d", tt.path, got, status, tt.want, tt.status)
		}
	}
}

func TestValidRootName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"a": true, "release-24.05": true, "ci:main@2+x_y": true, "0": true, strings.Repeat("x", 200): true,
		"": false, ".a": false, "-a": false, "_a": false, "a/b": false, "a b": false, "a..b": false,
		"é": false, strings.Repeat("x", 201): false,
	} {
		if got := ValidRootName(name); got != want {
			t.Errorf("ValidRootName(%q) = %v, want %v", name, got, want)
		}
	}
}
