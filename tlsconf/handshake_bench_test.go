package tlsconf_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/tlsconf"
)

// BenchmarkHandshake is one full TLS handshake, client and server, over
// loopback TCP: with the configuration a Manager serves certificate files
// with, and with a static tls.Config holding the same certificate (as the
// load tool's ceiling serves it). The client is the same for both; the
// difference is the server's.
func BenchmarkHandshake(b *testing.B) {
	c := testutil.SelfSigned(b, "127.0.0.1", 48*time.Hour)
	certFile, keyFile := c.WriteFiles(b, b.TempDir(), "cert")
	roots := c.Roots()
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
