package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/pebbletest"
	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
)

// certWait bounds each wait for a certificate: an order takes seconds,
// more on a busy machine.
const certWait = 2 * time.Minute

// tlsTest is a pebble and the addresses and ports of the nodes it
// validates: each node on its own loopback address, all on the same two
// ports, which pebble validates HTTP-01 and TLS-ALPN-01 challenges on.
type tlsTest struct {
	url             string
	pebble          *pebbletest.Pebble
	httpPort, https int
	net             string // 127.a.b., the nodes' addresses are net+1, net+2, ...
	domain          string
}

// newTLSTest starts pebble, resolving every name to node resolveTo and
// issuing certificates valid for validity (0: pebble's default).
func newTLSTest(t *testing.T, resolveTo int, validity time.Duration) *tlsTest {
	t.Helper()
	base := freePorts(t, 6)
	tt := &tlsTest{url: pgtest.NewOriginDatabase(t), httpPort: base + 4, https: base + 5,
		net:    fmt.Sprintf("127.%d.%d.", 1+rand.IntN(250), 1+rand.IntN(250)),
		domain: "cache.narthex.test"}
	tt.pebble = pebbletest.Start(t, pebbletest.Config{BasePort: base, HTTPPort: tt.httpPort, TLSPort: tt.https,
		Address: tt.addr(resolveTo), Validity: validity})
	return tt
}

func (tt *tlsTest) addr(node int) string { return fmt.Sprintf("%s%d", tt.net, node) }

func (tt *tlsTest) plain(node int) string {
	return fmt.Sprintf("http://%s:%d", tt.addr(node), tt.httpPort)
}

// edge starts "narthex edge" name as node, ordering tt.domain from pebble.
func (tt *tlsTest) edge(t *testing.T, node int, name string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"edge", "--name", name, "--replica-dir", tempDir(t), "--database-url", tt.url,
		"--listen", fmt.Sprintf("%s:%d", tt.addr(node), tt.httpPort),
		"--https-listen", fmt.Sprintf("%s:%d", tt.addr(node), tt.https),
		"--domain", tt.domain, "--acme-ca", tt.pebble.DirectoryURL, "--acme-ca-root", tt.pebble.RootFile,
		"--analytics-interval", "0"}, extra...)
	return startNarthex(t, args...)
}

// servedCert is the certificate node serves for name, verified against
// roots; nil with the reason when there is none yet.
func (tt *tlsTest) servedCert(node int, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("%s:%d", tt.addr(node), tt.https),
		&tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// waitCert waits until node serves a certificate for tt.domain, verified
// against pebble's roots, other than the one of serial not (nil: any).
func (tt *tlsTest) waitCert(t *testing.T, p *proc, node int, roots *x509.CertPool, not *x509.Certificate) *x509.Certificate {
	t.Helper()
	var got *x509.Certificate
	testutil.Eventually(t, "a certificate served by node "+tt.addr(node), certWait, func() bool {
		select {
		case <-p.exited:
			t.Fatalf("node exited:\n%s", p.logs())
		default:
		}
		c, err := tt.servedCert(node, tt.domain, roots)
		if err != nil || (not != nil && c.SerialNumber.Cmp(not.SerialNumber) == 0) {
			return false
		}
		got = c
		return true
	})
	return got
}

// httpsGet GETs path from node over HTTPS, by tt.domain, trusting roots.
func (tt *tlsTest) httpsGet(t *testing.T, node int, path string, roots *x509.CertPool) (int, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("%s:%d", tt.addr(node), tt.https))
		}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(fmt.Sprintf("https://%s%s", tt.domain, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// storedCerts is the number of certificates stored for tt.domain.
func (tt *tlsTest) storedCerts(t *testing.T) int {
	t.Helper()
	var n int
	if err := pgtest.Connect(t, tt.url).QueryRow(t.Context(),
		`SELECT count(*) FROM cert_object WHERE key LIKE 'certificates/%/' || $1 || '.crt'`, tt.domain).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Two edges starting at once with the same name take turns on the lock:
// one order, validated by whichever edge the CA reaches (DNS resolves the
// name to the second edge only), and both serve the same certificate,
// trusted by pebble's root, over HTTPS as plain HTTP goes on. A stored
// certificate that is corrupt is ordered anew, by the edge the CA does
// not reach.
func TestEdge_TLSTwoEdgesOneOrder(t *testing.T) {
	t.Parallel()
	tt := newTLSTest(t, 2, 0)
	a := tt.edge(t, 1, "tls_a")
	b := tt.edge(t, 2, "tls_b")
	roots := tt.pebble.Roots(t)
	certA := tt.waitCert(t, a, 1, roots, nil)
	certB := tt.waitCert(t, b, 2, roots, nil)
	if certA.SerialNumber.Cmp(certB.SerialNumber) != 0 {
		t.Errorf("edges serve certificates %x and %x, want the same", certA.SerialNumber, certB.SerialNumber)
	}
	if n := tt.pebble.Issued(); n != 1 {
		t.Errorf("pebble issued %d certificates, want 1:\n%s", n, tt.pebble.Log())
	}
	for node := 1; node <= 2; node++ {
		if code, body := tt.httpsGet(t, node, "/nix-cache-info", roots); code != 200 || !strings.Contains(body, "StoreDir: /nix/store") {
			t.Errorf("HTTPS nix-cache-info of node %d = %d %q", node, code, body)
		}
		if code, _ := getStatus(tt.plain(node) + "/nix-cache-info"); code != 200 {
			t.Errorf("plain HTTP nix-cache-info of node %d = %d", node, code)
		}
	}
	_, metrics := getStatus(tt.plain(1) + "/metrics")
	want := fmt.Sprintf(`narthex_tls_certificate_expiry_timestamp_seconds{name=%q} %g`, tt.domain, float64(certA.NotAfter.Unix()))
	if !strings.Contains(metrics, want) {
		t.Errorf("metrics lack %s:\n%s", want, metrics)
	}

	// An edge starting later with the same name serves the stored
	// certificate, without a new order.
	a.stop(t)
	c := tt.edge(t, 1, "tls_c")
	if certC := tt.waitCert(t, c, 1, roots, nil); certC.SerialNumber.Cmp(certA.SerialNumber) != 0 {
		t.Errorf("an edge started later serves certificate %x, want the stored %x", certC.SerialNumber, certA.SerialNumber)
	}
	if n := tt.pebble.Issued(); n != 1 {
		t.Errorf("pebble issued %d certificates once a third edge started, want 1:\n%s", n, tt.pebble.Log())
	}
	c.stop(t)

	// A certificate stored corrupt is replaced by a new order, once, by
	// the first edge, which DNS does not name: the second edge answers
	// the challenge from what the first stored.
	db := pgtest.Connect(t, tt.url)
	tag, err := db.Exec(t.Context(), `UPDATE cert_object SET value = 'not a certificate' WHERE key LIKE 'certificates/%/' || $1 || '.crt'`, tt.domain)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("corrupt the stored certificate: %v, %d rows", err, tag.RowsAffected())
	}
	a = tt.edge(t, 1, "tls_a")
	certA2 := tt.waitCert(t, a, 1, roots, certA)
	a.waitLog(t, "stored certificate unusable; ordering a new one", certWait)
	a.waitLog(t, "certificate stored for every node", certWait)
	if n := tt.pebble.Issued(); n != 2 {
		t.Errorf("pebble issued %d certificates after the corruption, want 2", n)
	}
	if n := tt.storedCerts(t); n != 1 {
		t.Errorf("%d certificates stored, want 1", n)
	}
	if certA2.NotAfter.Before(certA.NotAfter) {
		t.Errorf("new certificate expires %s, before the old one (%s)", certA2.NotAfter, certA.NotAfter)
	}
}

// A node killed while it holds the lock of an order (its challenge is
// being validated, against an address that never answers) keeps the other
// node waiting only until the lock's lease lapses; that node then orders
// and serves the certificate.
func TestEdge_TLSHolderKilledMidOrder(t *testing.T) {
	t.Parallel()
	tt := newTLSTest(t, 3, 0)
	// Node 3 takes connections and never answers: validations stall.
	for _, port := range []int{tt.httpPort, tt.https} {
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", tt.addr(3), port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
	}
	a := tt.edge(t, 1, "tls_a", "--tls-lock-lease", "3s")
	db := pgtest.Connect(t, tt.url)
	lock := "issue_cert_" + tt.domain
	testutil.Eventually(t, "a challenge stored for validation by another node", certWait, func() bool {
		var n int
		db.QueryRow(t.Context(), `SELECT count(*) FROM cert_object WHERE key LIKE '%challenge_tokens%'`).Scan(&n)
		return n > 0
	})
	var holder string
	if err := db.QueryRow(t.Context(), `SELECT holder FROM cert_lock WHERE name = $1 AND expires_at > now()`, lock).Scan(&holder); err != nil {
		t.Fatalf("the ordering node holds no lock %s: %v", lock, err)
	}
	a.kill()
	if n := tt.storedCerts(t); n != 0 {
		t.Fatalf("%d certificates stored before the holder was killed; the test needs an order in flight", n)
	}
	tt.pebble.SetAddress(t, tt.domain, tt.addr(2))
	b := tt.edge(t, 2, "tls_b", "--tls-lock-lease", "3s")
	roots := tt.pebble.Roots(t)
	tt.waitCert(t, b, 2, roots, nil)
	if n := tt.pebble.Issued(); n != 1 {
		t.Errorf("pebble issued %d certificates, want 1", n)
	}
	var now string
	if err := db.QueryRow(t.Context(), `SELECT holder FROM cert_lock WHERE name = $1`, lock).Scan(&now); err == nil && now == holder {
		t.Errorf("lock %s still held by the killed node", lock)
	}
}

// A name the CA cannot validate (it resolves to an address nothing
// listens on) is logged with its reason and retried with backoff, counted
// as a failure, while plain HTTP keeps serving.
func TestEdge_TLSFailedValidationKeepsPlainHTTP(t *testing.T) {
	t.Parallel()
	tt := newTLSTest(t, 9, 0)
	p := tt.edge(t, 1, "tls_fail")
	p.waitLog(t, "certificate not obtained; retried with backoff", certWait)
	p.waitLog(t, "domain="+tt.domain, certWait)
	p.waitLog(t, "retrying_in=", certWait)
	if code, _ := getStatus(tt.plain(1) + "/healthz"); code != 200 {
		t.Errorf("plain HTTP /healthz = %d after the failed order", code)
	}
	_, metrics := getStatus(tt.plain(1) + "/metrics")
	if !strings.Contains(metrics, `narthex_tls_certificate_failures_total{kind="obtain"}`) {
		t.Errorf("metrics do not count the failure:\n%s", metrics)
	}
	if n := tt.pebble.Issued(); n != 0 {
		t.Errorf("pebble issued %d certificates, want none", n)
	}
}

// A certificate due for renewal is renewed once, by one of the nodes
// that find it due as they start; the other, waiting on the lock, finds
// the renewed certificate stored and serves it too.
func TestEdge_TLSRenewedOnce(t *testing.T) {
	t.Parallel()
	tt := newTLSTest(t, 1, time.Hour)
	a := tt.edge(t, 1, "tls_a")
	roots := tt.pebble.Roots(t)
	first := tt.waitCert(t, a, 1, roots, nil)
	a.stop(t)
	// Due once older than due; a certificate renewed now is not due for
	// another 30s, ample for the other node, on a busy machine, to find it
	// stored.
	due := time.Since(first.NotBefore) + 30*time.Second
	ratio := 1 - due.Seconds()/first.NotAfter.Sub(first.NotBefore).Seconds()
	time.Sleep(time.Until(first.NotBefore.Add(due + 5*time.Second)))
	r := strconv.FormatFloat(ratio, 'g', -1, 64)
	a = tt.edge(t, 1, "tls_a", "--acme-renewal-ratio", r)
	b := tt.edge(t, 2, "tls_b", "--acme-renewal-ratio", r)
	certA := tt.waitCert(t, a, 1, roots, first)
	certB := tt.waitCert(t, b, 2, roots, first)
	if certA.SerialNumber.Cmp(certB.SerialNumber) != 0 {
		t.Errorf("edges serve renewed certificates %x and %x, want the same", certA.SerialNumber, certB.SerialNumber)
	}
	if n := tt.pebble.Issued(); n != 2 {
		t.Errorf("pebble issued %d certificates, want 2 (one order, one renewal):\n%s", n, tt.pebble.Log())
	}
	renewals := 0
	for node := 1; node <= 2; node++ {
		_, metrics := getStatus(tt.plain(node) + "/metrics")
		if strings.Contains(metrics, `narthex_tls_certificates_obtained_total{kind="renew"} 1`) {
			renewals++
		}
	}
	if renewals != 1 {
		t.Errorf("%d nodes count a renewal in their metrics, want 1", renewals)
	}
}

// An origin orders its certificate while the CA reaches an edge alone (an
// edge managing another name): the edge answers the origin's HTTP-01
// challenge (the only type the origin offers) from what the origin stored
// in the database, and the origin serves its certificate over HTTPS. The
// other way round, the origin answers an edge's TLS-ALPN-01 challenge.
func TestOrigin_TLSOrderAnsweredByEdge(t *testing.T) {
	t.Parallel()
	tt := newTLSTest(t, 2, 0)
	roots := tt.pebble.Roots(t)
	// The last --domain given is the edge's.
	b := tt.edge(t, 2, "tls_b", "--domain", "other.narthex.test")
	// The edge's own order, for another name, resolves to it too.
	testutil.Eventually(t, "the edge's own certificate", certWait, func() bool {
		if _, err := tt.servedCert(2, "other.narthex.test", roots); err != nil {
			select {
			case <-b.exited:
				t.Fatalf("edge exited:\n%s", b.logs())
			default:
			}
			return false
		}
		return true
	})
	o := startNarthex(t, "origin", "--database-url", tt.url, "--local-store", tempDir(t),
		"--listen", fmt.Sprintf("%s:%d", tt.addr(1), tt.httpPort), "--https-listen", fmt.Sprintf("%s:%d", tt.addr(1), tt.https),
		"--domain", tt.domain, "--acme-ca", tt.pebble.DirectoryURL, "--acme-ca-root", tt.pebble.RootFile,
		"--acme-challenges", "http-01")
	tt.waitCert(t, o, 1, roots, nil)
	o.waitLog(t, "certificate stored for every node", certWait)
	if n := tt.pebble.Issued(); n != 2 {
		t.Errorf("pebble issued %d certificates, want 2 (the edge's name, the origin's)", n)
	}
	if code, body := tt.httpsGet(t, 1, "/nix-cache-info", roots); code != 200 || !strings.Contains(body, "StoreDir: /nix/store") {
		t.Errorf("HTTPS nix-cache-info of the origin = %d %q", code, body)
	}
	if strings.Contains(b.logs(), "op=obtain domain="+tt.domain) {
		t.Errorf("the edge ordered the origin's name:\n%s", b.logs())
	}

	tt.pebble.SetAddress(t, "third.narthex.test", tt.addr(1))
	c := tt.edge(t, 3, "tls_c", "--domain", "third.narthex.test", "--acme-challenges", "tls-alpn-01")
	testutil.Eventually(t, "the third node's certificate, validated at the origin", certWait, func() bool {
		if _, err := tt.servedCert(3, "third.narthex.test", roots); err != nil {
			select {
			case <-c.exited:
				t.Fatalf("edge exited:\n%s", c.logs())
			default:
			}
			return false
		}
		return true
	})
	if n := tt.pebble.Issued(); n != 3 {
		t.Errorf("pebble issued %d certificates, want 3", n)
	}
}
