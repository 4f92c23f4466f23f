package loadtest_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/loadtest"
	"github.com/narthex-cache/narthex/narinfo"
)

func TestPopulate(t *testing.T) {
	const n, seed = 500, 7
	url := pgtest.NewOriginDatabase(t)
	static := t.TempDir()
	res, err := loadtest.Populate(t.Context(), loadtest.PopulateConfig{
		DatabaseURL: url, Count: n, Seed: seed, RefsMax: 50, StaticDir: static, ChunkSize: 64,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := pgtest.Connect(t, url)
	count := func(q string) int64 {
		t.Helper()
		var c int64
		if err := conn.QueryRow(t.Context(), q).Scan(&c); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return c
	}
	for _, tc := range res.Tables {
		if got := count("SELECT count(*) FROM " + tc.Table); got != tc.Rows {
			t.Errorf("%s has %d rows, populate reports %d", tc.Table, got, tc.Rows)
		}
	}
	for _, table := range []string{"narinfo", "nar_file", "narinfo_file"} {
		if got := count("SELECT count(*) FROM " + table); got != n {
			t.Errorf("%s has %d rows, want %d", table, got, n)
		}
	}
	refs := count("SELECT count(*) FROM reference")
	if refs == 0 {
		t.Error("no references")
	}
	// The foreign key triggers may have been skipped: check what they would.
	if dangling := count(`SELECT count(*) FROM reference r
		WHERE NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = r.reference)
		   OR NOT EXISTS (SELECT FROM narinfo n WHERE n.hash = r.referrer)`); dangling != 0 {
		t.Errorf("%d references to absent paths", dangling)
	}
	if dangling := count(`SELECT count(*) FROM narinfo_file f
		WHERE NOT EXISTS (SELECT FROM nar_file n WHERE n.url = f.url)`); dangling != 0 {
		t.Errorf("%d narinfo_file rows without their nar_file", dangling)
	}

	pub := loadtest.SigningKey(seed).Public()
	rows, err := conn.Query(t.Context(), `SELECT n.hash, n.body, n.nar_size, f.file_size,
		(SELECT count(*) FROM reference r WHERE r.referrer = n.hash)
		FROM narinfo n JOIN narinfo_file nf ON nf.narinfo_hash = n.hash JOIN nar_file f ON f.url = nf.url`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen, withRefs := 0, 0
	for rows.Next() {
		var hash, body string
		var narSize, fileSize, nrefs int64
		if err := rows.Scan(&hash, &body, &narSize, &fileSize, &nrefs); err != nil {
			t.Fatal(err)
		}
		seen++
		ni, err := narinfo.Parse([]byte(body), narinfo.NixStoreDir)
		if err != nil {
			t.Errorf("%s: %v\n%s", hash, err, body)
			continue
		}
		if ni.Hash != hash || len(ni.Sigs) != 1 || ni.Files[0].Compression != "xz" ||
			ni.NarSize != uint64(narSize) || ni.Files[0].FileSize != uint64(fileSize) || int64(len(ni.References)) != nrefs {
			t.Errorf("%s: body does not match its rows:\n%s", hash, body)
		}
		if st := narinfo.CheckSig(ni.Fingerprint(narinfo.NixStoreDir), ni.Sigs[0], []narinfo.PublicKey{pub}); st != narinfo.SigValid {
			t.Errorf("%s: signature %v", hash, st)
		}
		if got := string(ni.Render()); got != body {
			t.Errorf("%s: body is not what Render writes:\n%s\nwant\n%s", hash, body, got)
		}
		if len(body) < 400 || len(body) > 4000 {
			t.Errorf("%s: body of %d bytes", hash, len(body))
		}
		if len(ni.References) > 0 {
			withRefs++
		}
		file, err := os.ReadFile(filepath.Join(static, hash+".narinfo"))
		if err != nil {
			t.Error(err)
		} else if !bytes.Equal(file, []byte(body)) {
			t.Errorf("%s: static file differs from the database body", hash)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != n || withRefs < n/2 {
		t.Errorf("%d narinfos, %d with references; want %d, most with references", seen, withRefs, n)
	}
	if got := loadtest.Hash(seed, 0); count("SELECT count(*) FROM narinfo WHERE hash = '"+got+"'") != 1 {
		t.Errorf("Hash(%d, 0) = %s is not in the database", seed, got)
	}
	if info, err := os.ReadFile(filepath.Join(static, "nix-cache-info")); err != nil || !strings.Contains(string(info), "StoreDir: /nix/store\n") {
		t.Errorf("nix-cache-info: %q, %v", info, err)
	}
	entries, _ := os.ReadDir(static)
	if len(entries) != n+1 {
		t.Errorf("static dir has %d files, want %d", len(entries), n+1)
	}

	// The same seed again is refused and changes nothing.
	_, err = loadtest.Populate(t.Context(), loadtest.PopulateConfig{DatabaseURL: url, Count: 10, Seed: seed, RefsMax: 50})
	if err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("second populate of the seed: %v, want ErrAlreadyPopulated", err)
	}
	if got := count("SELECT count(*) FROM narinfo"); got != n {
		t.Errorf("after the refused populate: %d narinfos", got)
	}
}

func TestPopulate_RefusesRemoteDatabase(t *testing.T) {
	_, err := loadtest.Populate(t.Context(), loadtest.PopulateConfig{
		DatabaseURL: "postgres://postgres@192.0.2.1:5432/narthex?sslmode=disable", Count: 1,
	})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("err = %v, want a loopback refusal", err)
	}
}
