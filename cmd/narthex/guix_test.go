package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/narinfo"
)

// guixCache writes a cache as guix publish serves one: for each name a
// path whose NAR files are compressed by the real gzip and lzip and named
// as Guix names them (nar/lzip/<base name>, escaped), kept under their
// names decoded. It returns the directory and, by store path, the URLs
// and bytes of their files.
func guixCache(t *testing.T, names ...string) (string, map[string]map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("nix-cache-info", []byte("StoreDir: /gnu/store\nWantMassQuery: 0\nPriority: 100\n"))
	files := map[string]map[string][]byte{}
	for _, name := range names {
		nar := []byte(strings.Repeat("nix-archive-1 "+name+" ", 500))
		sum := sha256.Sum256(nar)
		hash := testutil.RandomHash()
		base := hash + "-" + name
		text := "StorePath: /gnu/store/" + base + "\n"
		sp := "/gnu/store/" + base
		files[sp] = map[string][]byte{}
		for _, comp := range []string{"lzip", "gzip"} {
			cmd := exec.Command(testutil.Tool(t, comp), "-c")
			cmd.Stdin = bytes.NewReader(nar)
			data, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v", comp, err)
			}
			url := "nar/" + comp + "/" + narinfo.EscapeKey(base)
			write(narinfo.URLKey(url), data)
			files[sp][url] = data
			text += fmt.Sprintf("URL: %s\nCompression: %s\nFileSize: %d\n", url, comp, len(data))
		}
		text += fmt.Sprintf("NarHash: sha256:%s\nNarSize: %d\nReferences: \n", nixbase32.EncodeToString(sum[:]), len(nar))
		write(hash+".narinfo", []byte(text))
	}
	return dir, files
}

// A Guix cache imported into a Guix origin is served by an edge: each
// narinfo as it was, each NAR file by a redirect that leads to its bytes,
// whether the origin holds them or they are adopted where they are.
func TestImport_GuixCacheThroughAnEdge(t *testing.T) {
	t.Parallel()
	dbURL, _, token := importDatabase(t)
	port := freePorts(t, 2)
	originURL, edgeURL := fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", port+1)
	o := startNarthex(t, "origin", "--listen", strings.TrimPrefix(originURL, "http://"), "--database-url", dbURL,
		"--local-store", tempDir(t), "--store-dir", "/gnu/store")
	o.waitLog(t, "origin listening", time.Minute)
	e := startNarthex(t, "edge", "--name", "guix", "--replica-dir", tempDir(t), "--database-url", dbURL,
		"--listen", strings.TrimPrefix(edgeURL, "http://"))

	uploaded, uploadedFiles := guixCache(t, "gtk+-3.24.30", "guile-3.0.9")
	adopted, adoptedFiles := guixCache(t, "emacs-29.1")
	src := httptest.NewServer(http.FileServer(http.Dir(uploaded)))
	defer src.Close()
	mirror := httptest.NewServer(http.FileServer(http.Dir(adopted)))
	defer mirror.Close()
	var paths []string
	for sp := range uploadedFiles {
		paths = append(paths, sp)
	}
	if _, errOut, code := narthex(t, append([]string{"import", src.URL, "--origin", originURL, "--token-file", token}, paths...)...); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	var adoptedPath string
	for sp := range adoptedFiles {
		adoptedPath = sp
	}
	if _, errOut, code := narthex(t, "import", mirror.URL, adoptedPath, "--origin", originURL, "--token-file", token,
		"--no-payload", "--database-url", dbURL, "--store-name", "guix-mirror"); code != 0 {
		t.Fatalf("import --no-payload: exit %d: %s", code, errOut)
	}

	client := &http.Client{Timeout: time.Minute}
	get := func(url string) (int, []byte) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	check := func(dir string, files map[string]map[string][]byte) {
		t.Helper()
		for sp, urls := range files {
			hash := strings.TrimPrefix(sp, "/gnu/store/")[:32]
			want, _ := os.ReadFile(filepath.Join(dir, hash+".narinfo"))
			testutil.Eventually(t, sp+" at the edge", edgeWait, func() bool {
				select {
				case <-e.exited:
					t.Fatalf("edge exited:\n%s", e.logs())
				default:
				}
				code, body := get(edgeURL + "/" + hash + ".narinfo")
				return code == 200 && bytes.HasPrefix(body, want)
			})
			for url, data := range urls {
				if code, body := get(edgeURL + "/" + url); code != 200 || !bytes.Equal(body, data) {
					t.Errorf("GET %s through the edge = %d, %d bytes; want the %d bytes of the source", url, code, len(body), len(data))
				}
			}
		}
	}
	check(uploaded, uploadedFiles)
	check(adopted, adoptedFiles)
}
