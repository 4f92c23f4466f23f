package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/importer"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/origin"
)

// importCache writes a binary cache directory with an uncompressed path
// for each name, each referencing the one before, and returns the
// directory and the store paths.
func importCache(t *testing.T, names ...string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("nix-cache-info", "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 50\n")
	var paths []string
	prev := ""
	for _, name := range names {
		nar := "NAR of " + name
		sum := sha256.Sum256([]byte(nar))
		h := nixbase32.EncodeToString(sum[:])
		hash := testutil.RandomHash()
		refs := hash + "-" + name
		if prev != "" {
			refs += " " + prev
		}
		write("nar/"+h+".nar", nar)
		write(hash+".narinfo", fmt.Sprintf("StorePath: /nix/store/%s-%s\nURL: nar/%s.nar\nCompression: none\nFileHash: sha256:%s\n"+
			"FileSize: %d\nNarHash: sha256:%s\nNarSize: %d\nReferences: %s\n", hash, name, h, h, len(nar), h, len(nar), refs))
		paths = append(paths, "/nix/store/"+hash+"-"+name)
		prev = hash + "-" + name
	}
	return dir, paths
}

func TestImport_Help(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"import", "-h"}, {"help", "import"}, {"import", "file:///x", "--help"}} {
		out, errOut, code := narthex(t, args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: narthex import SOURCE [PATH...] [flags]") || !strings.Contains(out, "-no-payload") {
			t.Errorf("narthex %q: exit %d, output:\n%s\nstderr:\n%s", args, code, out, errOut)
		}
	}
}

func TestImport_BadCommandLine(t *testing.T) {
	t.Parallel()
	dir, _ := importCache(t, "a")
	empty := t.TempDir()
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("narthex_not_checked\n"), 0o600)
	noPaths := filepath.Join(t.TempDir(), "paths")
	os.WriteFile(noPaths, []byte("# nothing\n\n"), 0o644)
	// Nothing listens here: every case must fail before the origin is asked.
	origin := "http://127.0.0.1:1"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "missing SOURCE"},
		{[]string{"import", dir, "--origin", origin}, "--token-file is required"},
		{[]string{"import", dir, "--origin", origin, "--token-file", token + ".missing"}, "--token-file"},
		{[]string{"import", dir, "--origin", origin, "--token-file", token, "--jobs", "-1"}, "--jobs -1 must be at least 1"},
		{[]string{"import", dir, "--origin", "ftp://origin", "--token-file", token}, `--origin "ftp://origin" is not an http(s) base URL`},
		{[]string{"import", dir, "--origin", origin, "--token-file", token, "--store-dir", "gnu"}, `--store-dir "gnu"`},
		{[]string{"import", dir, "--origin", origin, "--token-file", token, "--no-payload"}, "--database-url or --database-url-file is required"},
		{[]string{"import", dir, "--origin", origin, "--token-file", token, "--no-payload", "--database-url", "postgres://127.0.0.1:1/x"},
			"must be an http(s) URL with --no-payload true: clients download"},
		{[]string{"import", "http://cache.example", "--origin", origin, "--token-file", token, "--no-payload", "--database-url", "postgres://127.0.0.1:1/x",
			"--store-name", "Old Cache"}, `--store-name "Old Cache" is not a store name`},
		{[]string{"import", dir, "--origin", origin, "--token-file", token, "--paths-file", noPaths}, "names no paths"},
		{[]string{"import", empty, "--origin", origin, "--token-file", token}, "is not a binary cache: it has no nix-cache-info"},
		{[]string{"import", "ftp://cache.example", "--origin", origin, "--token-file", token}, "want file:///dir, a directory or an http(s) URL"},
		{[]string{"import", dir, "/nix/store/nonsense", "--origin", origin, "--token-file", token}, "path /nix/store/nonsense"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:min(len(tt.args), 2)], " ")+" "+tt.want, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := narthex(t, tt.args...)
			if code != 1 || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and one line with %q", code, errOut, tt.want)
			}
			if out != "" {
				t.Errorf("standard output %q, want none", out)
			}
		})
	}
}

// TestImport_Origin imports into a running narthex origin: a directory
// with a path whose bytes do not match, then again, then an HTTP cache
// adopted with --no-payload.
// importDatabase makes an origin database with an upload token for the
// importer, and returns its URL, a pool on it and the token's file.
func importDatabase(t *testing.T) (dbURL string, db *pgxpool.Pool, tokenFile string) {
	t.Helper()
	dbURL = pgtest.NewOriginDatabase(t)
	db, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	tok, err := origin.CreateToken(t.Context(), db, "importer")
	if err != nil {
		t.Fatal(err)
	}
	tokenFile = filepath.Join(tempDir(t), "token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dbURL, db, tokenFile
}

func TestImport_Origin(t *testing.T) {
	t.Parallel()
	dbURL, db, token := importDatabase(t)
	store := tempDir(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	p := startNarthex(t, "origin", "--listen", addr, "--database-url", dbURL, "--local-store", store)
	p.waitLog(t, "origin listening", time.Minute)
	originURL := "http://" + addr

	dir, paths := importCache(t, "a", "b", "c")
	// c's NAR file holds other bytes than its narinfo says.
	nars, _ := filepath.Glob(filepath.Join(dir, "nar", "*"))
	for _, n := range nars {
		if b, _ := os.ReadFile(n); string(b) == "NAR of c" {
			os.WriteFile(n, []byte("NAR of something else"), 0o644)
		}
	}
	summary := func(out string) importer.Summary {
		t.Helper()
		var s importer.Summary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("summary %q: %v", out, err)
		}
		return s
	}
	out, errOut, code := narthex(t, "import", "file://"+dir, "--origin", originURL, "--token-file", token, "--json")
	s := summary(out)
	if code != 1 || s.Imported != 2 || len(s.Refused) != 1 || s.Refused[0].StorePath != paths[2] ||
		!strings.Contains(errOut, "1 paths refused") {
		t.Errorf("exit %d, summary %+v, stderr:\n%s\nwant exit 1, 2 imported and %s refused", code, s, errOut, paths[2])
	}

	pathsFile := filepath.Join(t.TempDir(), "paths")
	os.WriteFile(pathsFile, []byte("# the top of the good closure\n"+paths[1]+"\n"), 0o644)
	out, errOut, code = narthex(t, "import", dir, "--paths-file", pathsFile, "--origin", originURL, "--token-file", token, "--json")
	if s := summary(out); code != 0 || s.Imported != 0 || s.AlreadyPresent != 1 {
		t.Errorf("rerun: exit %d, summary %+v, stderr:\n%s\nwant everything already present", code, s, errOut)
	}

	// Another cache, adopted where it is.
	dir2, paths2 := importCache(t, "x", "y")
	ts := httptest.NewServer(http.FileServer(http.Dir(dir2)))
	defer ts.Close()
	out, errOut, code = narthex(t, "import", ts.URL, paths2[1], "--origin", originURL, "--token-file", token,
		"--no-payload", "--database-url", dbURL, "--store-name", "old-cache")
	if code != 0 || !strings.Contains(out, "NAR files recorded in store old-cache  2") || !strings.Contains(out, "imported  ") {
		t.Errorf("--no-payload: exit %d, output:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, sp := range paths2 {
		hash := strings.TrimPrefix(sp, "/nix/store/")[:32]
		resp, err := http.Get(originURL + "/" + hash + ".narinfo")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s adopted with --no-payload: origin answers %d", sp, resp.StatusCode)
		}
	}
	var files int
	db.QueryRow(t.Context(), "SELECT count(*) FROM payload_location l JOIN store s ON s.id = l.store_id WHERE s.name = 'old-cache'").Scan(&files)
	if files != 2 {
		t.Errorf("%d locations in old-cache, want 2", files)
	}
}
