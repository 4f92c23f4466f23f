package tlsconf

import (
	"errors"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/narthex-cache/narthex/config"
)

// Validate names the field that cannot work, and takes what can.
func TestConfig_Validate(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string // "" for valid
	}{
		{"off", Config{}, ""},
		{"acme", Config{Domains: []string{"cache.example.org"}, Storage: storage}, ""},
		{"files", Config{CertFile: "c.pem", KeyFile: "k.pem"}, ""},
		{"cert without key", Config{CertFile: "c.pem"}, "KeyFile"},
		{"key without cert", Config{KeyFile: "k.pem"}, "CertFile"},
		{"files and domains", Config{CertFile: "c.pem", KeyFile: "k.pem", Domains: []string{"a.example"}}, "Domains"},
		{"wildcard", Config{Domains: []string{"*.example.org"}, Storage: storage}, "Domains"},
		{"url", Config{Domains: []string{"https://example.org"}, Storage: storage}, "Domains"},
		{"port", Config{Domains: []string{"example.org:443"}, Storage: storage}, "Domains"},
		{"bare name", Config{Domains: []string{"cache"}, Storage: storage}, "Domains"},
		{"empty name", Config{Domains: []string{""}, Storage: storage}, "Domains"},
		{"no storage", Config{Domains: []string{"cache.example.org"}}, "Storage"},
		{"plain CA", Config{Domains: []string{"cache.example.org"}, Storage: storage, CA: "http://ca.example/dir"}, "CA"},
		{"ratio 1", Config{Domains: []string{"cache.example.org"}, Storage: storage, RenewalWindowRatio: 1}, "RenewalWindowRatio"},
		{"ratio negative", Config{Domains: []string{"cache.example.org"}, Storage: storage, RenewalWindowRatio: -0.1}, "RenewalWindowRatio"},
		{"check interval", Config{Domains: []string{"cache.example.org"}, Storage: storage, RenewCheckInterval: -1}, "RenewCheckInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var ce *config.Error
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field):
				t.Errorf("Validate = %v, want an error on %s", err, tc.field)
			}
		})
	}
}
