package maintain

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/stores"
)

// TestMaintainer_PopulatesGuixNames checks that a file Guix names (by its
// path, escaped in its URL) is copied under its key, the URL decoded, and
// that an unrecorded copy a killed pass left there is found by the listing
// of the store and taken as it is.
func TestMaintainer_PopulatesGuixNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.store("src", "")
	e.store("mirror", "populate = true")
	e.store("resumed", "populate = true")

	data := make([]byte, 3000)
	rand.Read(data)
	sum := sha256.Sum256(data)
	base := testutil.RandomHash() + "-gtk+-3.24"
	url, key := "nar/zstd/"+base[:32]+"-gtk%2B-3.24", "nar/zstd/"+base
	e.exec(`INSERT INTO nar_file (url, file_hash, file_size, compression, nar_hash, nar_size)
		VALUES ($1, $2, $3, 'zstd', 'sha256:x', 1)`, url, "sha256:"+nixbase32.EncodeToString(sum[:]), len(data))
	hash := testutil.RandomHash()
	e.exec(`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ($1, 'x', 'sha256:x', 1, 'StorePath: x')`, hash)
	e.exec(`INSERT INTO narinfo_file (narinfo_hash, url) VALUES ($1, $2)`, hash, url)
	for _, name := range []string{"src", "resumed"} {
		l, err := stores.Open(e.dirs[name])
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.Put(t.Context(), key, bytes.NewReader(data), nil); err != nil {
			t.Fatal(err)
		}
	}
	e.exec(`INSERT INTO payload_location (url, store_id, key, size) VALUES ($1, $2, $3, $4)`, url, e.ids["src"], key, len(data))

	m := e.maintainer(Config{VerifySample: VerifyNone})
	e.run(m, "")
	for _, name := range []string{"mirror", "resumed"} {
		var got string
		if err := e.db.QueryRow(t.Context(), `SELECT key FROM payload_location WHERE url = $1 AND store_id = $2 AND state = 'good'`,
			url, e.ids[name]).Scan(&got); err != nil || got != key {
			t.Errorf("store %s: location key %q, %v; want %q", name, got, err, key)
		}
		b, err := os.ReadFile(filepath.Join(e.dirs[name], filepath.FromSlash(key)))
		if err != nil || !bytes.Equal(b, data) {
			t.Errorf("store %s: %s holds %d bytes (%v), not the file's", name, key, len(b), err)
		}
	}
	if n := e.puts("resumed"); n != 0 {
		t.Errorf("the copy already in store resumed was written again (%d Puts)", n)
	}
}
