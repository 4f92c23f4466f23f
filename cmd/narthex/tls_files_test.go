package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
)

// Bad TLS settings are refused at start with a one-line reason naming
// the flag: a certificate that does not match its key among them.
func TestEdge_TLSFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert1, key1 := testutil.SelfSigned(t, "cache.example", 48*time.Hour).WriteFiles(t, dir, "one")
	_, key2 := testutil.SelfSigned(t, "cache.example", 48*time.Hour).WriteFiles(t, dir, "two")
	url := "postgres://edge@127.0.0.1:1/narthex"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert-file", cert1, "--tls-key-file", key2}, "--tls-cert-file, --tls-key-file: certificate " + cert1 + " and key " + key2 + ": tls: private key does not match public key"},
		{[]string{"--tls-cert-file", cert1}, `--tls-key-file "" is required with the other of the certificate and key files`},
		{[]string{"--tls-cert-file", filepath.Join(dir, "none.crt"), "--tls-key-file", key1}, "--tls-cert-file, --tls-key-file: certificate " + filepath.Join(dir, "none.crt") + " and key " + key1 + ": open"},
		{[]string{"--domain", "*.cache.example"}, "--domain *.cache.example must not contain a wildcard"},
		{[]string{"--domain", "https://cache.example"}, "--domain https://cache.example must contain host names only"},
		{[]string{"--domain", "cache"}, "--domain cache must contain fully qualified names"},
		{[]string{"--domain", "cache.example", "--tls-cert-file", cert1, "--tls-key-file", key1}, "--domain cache.example must be empty with a certificate file"},
		{[]string{"--domain", "cache.example", "--acme-ca", "http://ca.example/dir"}, "--acme-ca http://ca.example/dir must be an https:// URL"},
		{[]string{"--domain", "cache.example", "--tls-lock-lease", "1s"}, "--tls-lock-lease 1s must be at least 3s"},
		{[]string{"--domain", "cache.example", "--acme-ca-root", cert1 + ".missing"}, "--acme-ca-root: open"},
		{[]string{"--https-listen", "127.0.0.1:0"}, "--https-listen needs --domain or --tls-cert-file"},
		{[]string{"--domain", "cache.example", "--acme-challenges", "dns-01"}, "--acme-challenges dns-01 must be http-01, tls-alpn-01 or both"},
	} {
		p := startNarthex(t, append([]string{"edge", "--name", "tls", "--replica-dir", tempDir(t), "--database-url", url,
			"--listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0"}, tc.args...)...)
		if code := p.waitExit(t, edgeWait); code != 1 {
			t.Errorf("%v: exit code %d, want 1", tc.args, code)
		}
		logs := strings.TrimSpace(p.logs())
		if !strings.Contains(logs, "narthex edge: "+tc.want) || strings.Contains(logs, "\n") {
			t.Errorf("%v: stderr %q, want one line saying %q", tc.args, logs, tc.want)
		}
	}
}

// An origin given a certificate and its key serves HTTPS with them, and
// plain HTTP beside it; /metrics tells when the certificate expires.
func TestOrigin_TLSCertFile(t *testing.T) {
	t.Parallel()
	url := pgtest.NewOriginDatabase(t)
	c := testutil.SelfSigned(t, "origin.example", 48*time.Hour)
	certFile, keyFile := c.WriteFiles(t, t.TempDir(), "origin")
	cert := c.Leaf
	port := freePorts(t, 2)
	plain, https := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)
	startNarthex(t, "origin", "--database-url", url, "--local-store", tempDir(t), "--listen", plain,
		"--https-listen", https, "--tls-cert-file", certFile, "--tls-key-file", keyFile)
	roots := c.Roots()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "origin.example"}}}
	var body string
	testutil.Eventually(t, "origin serving HTTPS", edgeWait, func() bool {
		resp, err := client.Get("https://" + https + "/nix-cache-info")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if !strings.Contains(body, "StoreDir: /nix/store") {
		t.Errorf("HTTPS nix-cache-info = %q", body)
	}
	if code, _ := getStatus("http://" + plain + "/nix-cache-info"); code != 200 {
		t.Errorf("plain HTTP nix-cache-info = %d", code)
	}
	_, metrics := getStatus("http://" + plain + "/metrics")
	want := fmt.Sprintf(`narthex_tls_certificate_expiry_timestamp_seconds{name="origin.example"} %g`, float64(cert.NotAfter.Unix()))
	if !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s:\n%s", want, metrics)
	}
}
