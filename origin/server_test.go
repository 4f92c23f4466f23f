package origin

import (
	"net/http"
	"strings"
	"testing"
)

func TestNew_RegistersLocalStore(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := t.Context()
	var id int32
	var kind, baseURL string
	read := func() {
		t.Helper()
		if err := h.db.QueryRow(ctx, `SELECT id, kind, base_url FROM store WHERE name = 'local'`).Scan(&id, &kind, &baseURL); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if id != h.srv.storeID || kind != "local" || baseURL != strings.TrimSuffix(h.cfg.PublicURL, "/") {
		t.Errorf("store row = %d %q %q; server has id %d", id, kind, baseURL, h.srv.storeID)
	}

	// Starting again with another URL updates the row and keeps its id.
	cfg := h.cfg
	cfg.PublicURL = "https://cache.example/"
	srv, err := New(ctx, cfg, h.db)
	if err != nil {
		t.Fatal(err)
	}
	read()
	if id != srv.storeID || id != h.srv.storeID || baseURL != "https://cache.example" {
		t.Errorf("after restart store row = %d %q; server has id %d", id, baseURL, srv.storeID)
	}

	// A store of another kind is never taken over.
	if _, err := h.db.Exec(ctx, `INSERT INTO store (name, kind, base_url) VALUES ('bucket', 's3', 'https://s3.example')`); err != nil {
		t.Fatal(err)
	}
	cfg.LocalStoreName = "bucket"
	if _, err := New(ctx, cfg, h.db); err == nil || !strings.Contains(err.Error(), "not a local store") {
		t.Errorf("New over an s3 store = %v", err)
	}
	cfg.PublicURL = ""
	if _, err := New(ctx, cfg, h.db); err == nil || !strings.Contains(err.Error(), "PublicURL") {
		t.Errorf("New with an invalid config = %v", err)
	}
}

func TestServer_Metrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	n := newNar("bytes", ".xz")
	h.putNar(n)
	h.putInfo(nixInfo("p", n))
	h.do(http.MethodPut, "/"+n.url, []byte("wrong"))
	h.do(http.MethodGet, "/nothing", nil)
	h.do(http.MethodPut, "/nothing", nil)

	r := h.do(http.MethodGet, "/metrics", nil, "Accept-Encoding", "gzip")
	if r.status != 200 {
		t.Fatalf("GET /metrics = %d", r.status)
	}
	for _, want := range []string{
		`narthex_origin_uploads_total{kind="nar",status="200"} 1`,
		`narthex_origin_uploads_total{kind="nar",status="400"} 1`,
		`narthex_origin_uploads_total{kind="narinfo",status="200"} 1`,
		`narthex_origin_upload_bytes_total{kind="nar"} 5`,
		`narthex_origin_narinfos_accepted_total 1`,
		`narthex_origin_request_errors_total{status="400"} 1`,
		`narthex_origin_uploads_total{kind="other",status="404"} 1`,
		`narthex_origin_request_errors_total{status="404"} 2`,
		`narthex_origin_request_duration_seconds_count{method="PUT",route="nar",status="200"} 1`,
		`narthex_origin_request_duration_seconds_count{method="PUT",route="nar",status="400"} 1`,
		`narthex_origin_request_duration_seconds_count{method="PUT",route="narinfo",status="200"} 1`,
		`narthex_origin_request_duration_seconds_count{method="GET",route="other",status="404"} 1`,
		`narthex_origin_request_duration_seconds_count{method="PUT",route="other",status="404"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
