package tlsconf

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A certificate from files is watched (its expiry metric) under every
// name certmagic serves it for: DNS names and IP addresses, else its
// common name.
func TestCertNames(t *testing.T) {
	tests := []struct {
		name string
		cert x509.Certificate
		want []string
	}{
		{"dns names", x509.Certificate{DNSNames: []string{"a.example", "b.example"}, Subject: pkix.Name{CommonName: "a.example"}}, []string{"a.example", "b.example"}},
		{"ip address", x509.Certificate{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Subject: pkix.Name{CommonName: "127.0.0.1"}}, []string{"127.0.0.1"}},
		{"both", x509.Certificate{DNSNames: []string{"a.example"}, IPAddresses: []net.IP{net.ParseIP("2001:db8::1")}}, []string{"a.example", "2001:db8::1"}},
		{"common name alone", x509.Certificate{Subject: pkix.Name{CommonName: "c.example"}}, []string{"c.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, certNames(&tt.cert)); diff != "" {
				t.Errorf("certNames (-want +got):\n%s", diff)
			}
		})
	}
}
