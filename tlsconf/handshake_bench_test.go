package tlsconf_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/tlsconf"
)

// certFiles writes a self-signed P-256 certificate for 127.0.0.1 and its
// key, as bench.sh makes them, and returns their paths and the roots that
// trust it.
func certFiles(b *testing.B) (cert, key string, roots *x509.CertPool) {
	b.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		b.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	dir := b.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		b.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(c)
	return cert, key, roots
}

// BenchmarkHandshake is one full TLS handshake, client and server, over
// loopback TCP: with the configuration a Manager serves certificate files
// with, and with a static tls.Config holding the same certificate (as the
// load tool's ceiling serves it). The client is the same for both; the
// difference is the server's.
func BenchmarkHandshake(b *testing.B) {
	certFile, keyFile, roots := certFiles(b)
	m, err := tlsconf.New(b.Context(), tlsconf.Config{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Stop()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"manager", m.TLSConfig()},
		{"static", &tls.Config{Certificates: []tls.Certificate{pair}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						tls.Server(c, tc.cfg).Handshake()
					}()
				}
			}()
			client := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				tc := tls.Client(c, client)
				if err := tc.Handshake(); err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
