package loadtest_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/loadtest"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/origin"
)

// startOrigin serves an origin over HTTP from a fresh database and returns
// its URL, an upload token, and the database.
func startOrigin(t *testing.T) (string, string, *pgxpool.Pool) {
	t.Helper()
	db, err := pgxpool.New(context.Background(), pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	key, _, err := narinfo.GenerateKey("ingest-test-1")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	srv, err := origin.New(t.Context(), origin.Config{
		PublicURL:     "http://" + ts.Listener.Addr().String(),
		LocalStoreDir: filepath.Join(t.TempDir(), "store"),
		SigningKeys:   []narinfo.SecretKey{key},
		Logger:        slog.New(slog.DiscardHandler),
	}, db)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	token, err := origin.CreateToken(t.Context(), db, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	return ts.URL, token, db
}

func TestIngest(t *testing.T) {
	url, token, db := startOrigin(t)
	res, err := loadtest.Ingest(t.Context(), loadtest.IngestConfig{
		// Count ends the run; Duration only bounds it, generously for a busy machine.
		URL: url, Token: token, Count: 40, NarSize: 4096, Concurrency: 4, Duration: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploads != 40 || res.Succeeded != 40 || res.Errors != 0 || res.Upload.Count != 40 {
		t.Fatalf("uploads %d, succeeded %d, errors %d (%s); want 40 uploads without error",
			res.Uploads, res.Succeeded, res.Errors, res.FirstError)
	}
	var narinfos, files, located int
	err = db.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM narinfo WHERE hash = ANY ($1)),
		(SELECT count(*) FROM narinfo_file WHERE narinfo_hash = ANY ($1)),
		(SELECT count(*) FROM payload_location)`, res.Hashes).Scan(&narinfos, &files, &located)
	if err != nil {
		t.Fatal(err)
	}
	if narinfos != 40 || files != 40 || located != 40 {
		t.Errorf("database has %d of the narinfos, %d of their files, %d stored NAR files; want 40 each", narinfos, files, located)
	}
	var body string
	if err := db.QueryRow(t.Context(), "SELECT body FROM narinfo WHERE hash = $1", res.Hashes[0]).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if ni, err := narinfo.Parse([]byte(body), narinfo.NixStoreDir); err != nil || ni.Files[0].FileSize != 4096 || len(ni.Sigs) != 1 {
		t.Errorf("stored narinfo %v:\n%s", err, body)
	}
}

func TestIngest_Errors(t *testing.T) {
	url, _, _ := startOrigin(t)
	res, err := loadtest.Ingest(t.Context(), loadtest.IngestConfig{
		URL: url, Token: "narthex_wrong", Count: 5, NarSize: 100, Concurrency: 2, Duration: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 5 || res.Succeeded != 0 || !strings.Contains(res.FirstError, "401") {
		t.Errorf("with a wrong token: %d errors, %d succeeded, first error %q; want 5 errors with 401", res.Errors, res.Succeeded, res.FirstError)
	}
	if _, err := loadtest.Ingest(t.Context(), loadtest.IngestConfig{URL: "http://192.0.2.1:8080", Token: "x"}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a remote origin: %v, want a loopback refusal", err)
	}
}
