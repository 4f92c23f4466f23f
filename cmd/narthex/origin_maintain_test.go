package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/origin"
)

// An origin maintains its stores by itself: a NAR file uploaded to it
// reaches a store that populates within a pass.
func TestOrigin_MaintainsItsStores(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewOriginDatabase(t)
	db, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	backup := tempDir(t)
	settings, _ := json.Marshal(map[string]string{"dir": backup})
	if _, err := db.Exec(t.Context(), `INSERT INTO store (name, kind, base_url, settings, populate) VALUES ('backup', 'local', 'http://backup.test', $1, true)`, settings); err != nil {
		t.Fatal(err)
	}
	tok, err := origin.CreateToken(t.Context(), db, "uploader")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	p := startNarthex(t, "origin", "--listen", addr, "--database-url", dbURL, "--local-store", tempDir(t), "--maintain-interval", "1s")
	p.waitLog(t, "origin listening", time.Minute)

	data := []byte("a NAR the backup should get")
	sum := sha256.Sum256(data)
	url := "nar/" + nixbase32.EncodeToString(sum[:]) + ".nar.xz"
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, "http://"+addr+"/"+url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: %d", url, resp.StatusCode)
	}
	testutil.Eventually(t, "copy in the backup store", 2*time.Minute, func() bool {
		var n int
		err := db.QueryRow(t.Context(), `SELECT count(*) FROM payload_location l JOIN store s ON s.id = l.store_id
			WHERE s.name = 'backup' AND l.url = $1 AND l.state = 'good'`, url).Scan(&n)
		return err == nil && n == 1
	})
	got, err := os.ReadFile(filepath.Join(backup, url))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("backup holds %q (%v), want the uploaded bytes", got, err)
	}
}
