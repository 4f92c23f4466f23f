package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// serve starts the dashboard of f on loopback, with token when not empty.
func (f fixture) serve(t *testing.T, token string) *httptest.Server {
	t.Helper()
	h, err := New(Config{DB: f.db, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get sends a GET with the header auth (when not empty) and returns the
// status and body.
func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHandler_API(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.serve(t, "")
	var overview struct {
		WindowDays int   `json:"window_days"`
		Total      Day   `json:"total"`
		Days       []Day `json:"days"`
	}
	status, body := get(t, srv.URL+"/api/stats/overview?days=30", "")
	if status != http.StatusOK {
		t.Fatalf("overview: %d %s", status, body)
	}
	if err := json.Unmarshal([]byte(body), &overview); err != nil {
		t.Fatal(err)
	}
	if overview.WindowDays != 30 || len(overview.Days) != 30 || overview.Total.Requests != 21 || overview.Total.Bytes != 4*sizeA {
		t.Errorf("overview = %d days, total %+v", len(overview.Days), overview.Total)
	}
	var top struct {
		Paths []Key `json:"paths"`
	}
	status, body = get(t, srv.URL+"/api/stats/paths/top?days=7&limit=1", "")
	if err := json.Unmarshal([]byte(body), &top); err != nil || status != http.StatusOK {
		t.Fatalf("top: %d %s", status, body)
	}
	if len(top.Paths) != 1 || top.Paths[0].Key != hashA || top.Paths[0].Requests != 5 || top.Paths[0].Name != "hello-2.12" {
		t.Errorf("top = %+v, want a with 5 hits", top.Paths)
	}
	for _, path := range []string{"edges", "countries", "clients", "stores", "paths/missing", "paths/unfetched", "overview?edge=fra&days=1"} {
		if status, body := get(t, srv.URL+"/api/stats/"+path, ""); status != http.StatusOK || !json.Valid([]byte(body)) {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
}

func TestHandler_BadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.serve(t, "")
	for _, c := range []struct {
		path   string
		status int
		reason string
	}{
		{"/api/stats/overview?days=14", 400, `days "14" must be one of 1, 7, 30, 365`},
		{"/api/stats/overview?days=x", 400, `days "x" must be one of`},
		{"/api/stats/overview?days=7&days=30", 400, `parameter "days" given 2 times`},
		{"/api/stats/overview?edge=Fra", 400, `edge "Fra" is not an edge name`},
		{"/api/stats/paths/top?limit=0", 400, `limit "0" must be a number from 1 to 1000`},
		{"/api/stats/paths/top?limit=1001", 400, `limit "1001" must be a number`},
		{"/api/stats/stores?days=7", 400, `unknown parameter "days": this takes none`},
		{"/api/stats/edges?from=x", 400, `unknown parameter "from": this takes days`},
		{"/api/stats/nothing", 404, "no such statistics"},
		{"/dashboard?days=2", 400, `days "2" must be one of`},
	} {
		status, body := get(t, srv.URL+c.path, "")
		if strings.HasPrefix(body, "{") {
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Errorf("%s: %v in %q", c.path, err, body)
			}
			body = e.Error
		}
		if status != c.status || !strings.Contains(body, c.reason) || strings.Contains(strings.TrimSpace(body), "\n") {
			t.Errorf("%s: %d %q, want %d with %q", c.path, status, body, c.status, c.reason)
		}
	}
	resp, err := http.Post(srv.URL+"/api/stats/overview", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestHandler_Token(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.serve(t, "s3cret")
	for _, c := range []struct {
		auth   string
		status int
	}{
		{"", 401},
		{"Bearer wrong", 401},
		{"Basic " + basic("admin", "wrong"), 401},
		{"Bearer s3cret", 200},
		{"Basic " + basic("anyone", "s3cret"), 200},
	} {
		for _, path := range []string{"/dashboard", "/api/stats/edges"} {
			status, body := get(t, srv.URL+path, c.auth)
			if status != c.status {
				t.Errorf("%s with %q: %d %s, want %d", path, c.auth, status, body, c.status)
			}
			if status == 401 && strings.Contains(body, "fra") {
				t.Errorf("%s with %q told statistics: %s", path, c.auth, body)
			}
		}
	}
	resp, err := http.Get(srv.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("401 without WWW-Authenticate Basic: %q", resp.Header.Get("WWW-Authenticate"))
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// A database that does not answer is a 503 with a reason, not a page of
// zeros.
func TestHandler_DatabaseDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pool, err := pgxpool.New(t.Context(), f.db.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	h, err := New(Config{DB: pool})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/dashboard", "/api/stats/overview"} {
		if status, body := get(t, srv.URL+path, ""); status != http.StatusServiceUnavailable || !strings.Contains(body, "statistics unavailable") {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
}
