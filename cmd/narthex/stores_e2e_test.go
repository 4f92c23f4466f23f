package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/nixtest"
	"github.com/narthex-cache/narthex/internal/s3test"
)

// The README's worked example with the real Nix client: paths uploaded to
// the origin's disk are backfilled into a private S3 bucket, the disk is
// drained into it, and Nix then substitutes the closure through an edge,
// every NAR by a presigned URL of the bucket, since the bucket holds the
// only copies.
func TestStores_NixSubstitutesFromABackfilledBucket(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	n := nixtest.New(t)
	env := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent"}
	dir := filepath.Join(tempDir(t), "state")
	port := freePorts(t, 3)
	dev := startNarthexEnv(t, env, "dev", "--dir", dir, "--port", fmt.Sprint(port))
	dev.waitLine(t, "ready", 90*time.Second)
	origin := fmt.Sprintf("http://127.0.0.1:%d", port)
	edge := fmt.Sprintf("http://127.0.0.1:%d", port+1)
	db, err := os.ReadFile(filepath.Join(dir, "database-url"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "cache-key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := narthexEnv(t, env, append(args, "--database-url", strings.TrimSpace(string(db)))...)
		if code != 0 {
			t.Fatalf("narthex %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return out
	}

	c := n.Build("c")
	closure := n.Closure(c)
	n.Must("nix", "copy", "--store", n.Store("r1"), "--option", "netrc-file", filepath.Join(dir, "netrc"), "--to", origin, c)

	run("stores", "add", "eu-s3", "--kind", "s3", "--endpoint", srv.Endpoint, "--region", srv.Region, "--bucket", srv.Bucket,
		"--path-style", "--lat", "50.1", "--lon", "8.7", "--download-priority", "80", "--populate")
	nars := filepath.Join(dir, "nars")
	run("stores", "maintain", "--once", "--store", "eu-s3", "--local-store", nars)
	if out := run("stores", "missing", "eu-s3"); strings.TrimSpace(out) != "" {
		t.Fatalf("eu-s3 still lacks after its backfill:\n%s", out)
	}
	run("stores", "set", "local", "--drain=eu-s3")
	run("stores", "maintain", "--once", "--store", "local", "--local-store", nars)
	left, err := filepath.Glob(filepath.Join(nars, "nar", "*.nar*"))
	if err != nil || len(left) != 0 {
		t.Fatalf("the drained disk still holds %v (%v)", left, err)
	}

	var copyErr error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		_, copyErr = n.Run("nix", "copy", "--option", "require-sigs", "true",
			"--option", "trusted-public-keys", string(pub), "--option", "narinfo-cache-negative-ttl", "0",
			"--from", edge, "--to", n.Store("r2"), c)
		if copyErr == nil {
			break
		}
	}
	if copyErr != nil {
		t.Fatal(copyErr)
	}
	for _, p := range closure {
		if _, err := os.Stat(filepath.Join(n.Dir, "r2", p)); err != nil {
			t.Errorf("%s not substituted: %v", p, err)
		}
	}

	// The edge sends a download to the bucket, presigned.
	hash := strings.SplitN(filepath.Base(c), "-", 2)[0]
	resp, err := http.Get(edge + "/" + hash + ".narinfo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var url string
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "URL: "); ok {
			url = strings.TrimSpace(v)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(edge + "/" + url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, srv.Endpoint+"/"+srv.Bucket+"/") || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Errorf("GET /%s: %d to %q, want a presigned URL of the bucket", url, resp.StatusCode, loc)
	}
}
