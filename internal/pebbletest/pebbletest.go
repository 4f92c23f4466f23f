// Package pebbletest runs Let's Encrypt's test ACME server, pebble, with
// pebble-challtestsrv as its DNS server, on loopback for a test: real
// orders, real challenge validation against the servers under test, and
// the count of certificates issued.
//
// It is for tests only, and must never import a part of narthex.
package pebbletest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// Config says where pebble validates challenges and what it issues.
type Config struct {
	// BasePort and the three ports above it, on 127.0.0.1, are pebble's
	// ACME directory, its management API, challtestsrv's DNS and its
	// management API.
	BasePort int
	// HTTPPort and TLSPort are where pebble validates HTTP-01 and
	// TLS-ALPN-01 challenges, on the address a name resolves to.
	HTTPPort, TLSPort int
	// Address is what every name resolves to unless SetAddress says
	// otherwise.
	Address string
	// Validity is the lifetime of the certificates issued; zero: pebble's
	// default (five years).
	Validity time.Duration
}

// Pebble is a running pebble and challtestsrv.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// RootFile is a PEM file of the root of pebble's own HTTPS, for the
	// ACME client to trust.
	RootFile string
	mgmt     string
	dnsMgmt  string
	client   *http.Client
	out      *testutil.LockedBuffer
}

// Start starts challtestsrv and pebble, stopped at the test's cleanup.
func Start(t *testing.T, cfg Config) *Pebble {
	t.Helper()
	pebbleBin := testutil.Tool(t, "pebble")
	challBin := testutil.Tool(t, "pebble-challtestsrv")
	dir := t.TempDir()
	rootPEM, certFile, keyFile := serverCert(t, dir)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+i) }
	p := &Pebble{
		DirectoryURL: "https://" + addr(0) + "/dir",
		RootFile:     filepath.Join(dir, "root.pem"),
		mgmt:         "https://" + addr(1),
		dnsMgmt:      "http://" + addr(3),
		client:       &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		out:          &testutil.LockedBuffer{},
	}
	if err := os.WriteFile(p.RootFile, rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": addr(0), "managementListenAddress": addr(1),
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": cfg.HTTPPort, "tlsPort": cfg.TLSPort,
		"certificateValidityPeriod": uint64(cfg.Validity / time.Second),
	}}
	confFile := filepath.Join(dir, "pebble.json")
	b, _ := json.Marshal(conf)
	if err := os.WriteFile(confFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, p.out, challBin, nil, "-dns01", addr(2), "-management", addr(3), "-http01", "", "-https01", "",
		"-tlsalpn01", "", "-defaultIPv4", cfg.Address, "-defaultIPv6", "")
	// Every challenge is validated at once, and every order is given new
	// authorizations, so that each order is validated for real.
	start(t, p.out, pebbleBin, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", confFile, "-dnsserver", addr(2))
	testutil.Eventually(t, "pebble answering", time.Minute, func() bool {
		resp, err := p.client.Get(p.DirectoryURL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	testutil.Eventually(t, "challtestsrv answering", time.Minute, func() bool {
		c, err := net.Dial("tcp", addr(3))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

func start(t *testing.T, out io.Writer, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// Issued is the number of certificates pebble has issued.
func (p *Pebble) Issued() int {
	return strings.Count(p.out.String(), "Issued certificate serial")
}

// Log is what pebble and challtestsrv wrote.
func (p *Pebble) Log() string { return p.out.String() }

// Roots are the roots of the certificates pebble issues.
func (p *Pebble) Roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pebble roots: %d %v", resp.StatusCode, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: no certificate in %q", b)
	}
	return pool
}

// SetAddress makes host resolve to addr.
func (p *Pebble) SetAddress(t *testing.T, host, addr string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"host": host, "addresses": []string{addr}})
	resp, err := http.Post(p.dnsMgmt+"/add-a", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("challtestsrv add-a: %s", resp.Status)
	}
}

// serverCert makes a root and, signed by it, the certificate of pebble's
// HTTPS on 127.0.0.1, in dir; it returns the root's PEM and the files of
// the certificate and its key.
func serverCert(t *testing.T, dir string) (rootPEM []byte, certFile, keyFile string) {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(rootDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "pebble"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}), certFile, keyFile
}
