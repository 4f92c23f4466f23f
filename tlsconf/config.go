// Package tlsconf owns the TLS of the origin and the edges: certificates
// obtained from an ACME CA by certmagic (or read from files), kept with
// their locks in a certmagic.Storage the nodes share (certstore, on the
// origin database), and what a server needs to use them: the tls.Config
// of its HTTPS listener, which also answers TLS-ALPN-01 challenges, and
// the handlers answering HTTP-01 challenges on its plain HTTP listener.
//
// Whichever node the CA reaches answers a challenge, from what the
// ordering node stored (certmagic's distributed solving); a node starting
// with a name another has a certificate for uses the stored certificate;
// ordering and renewing happen under the storage's lock, once.
//
// It reads no flags and no environment, and must never import a role
// (origin, edge, gc, loadtest): it is a building block of both servers.
package tlsconf

import (
	"crypto/x509"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"golang.org/x/net/idna"

	"github.com/narthex-cache/narthex/config"
)

// Defaults for the zero values of Config fields.
const (
	// DefaultCA is Let's Encrypt's production directory.
	DefaultCA = certmagic.LetsEncryptProductionCA
	// DefaultRenewalWindowRatio is the share of a certificate's lifetime,
	// counted back from its expiry, in which it is renewed: a third, as
	// certmagic and Let's Encrypt advise, which leaves a 90-day
	// certificate a month of retries.
	DefaultRenewalWindowRatio = certmagic.DefaultRenewalWindowRatio
	// DefaultRenewCheckInterval is how often certificates are checked for
	// renewal: certmagic's own interval, small beside any lifetime a
	// public CA issues.
	DefaultRenewCheckInterval = certmagic.DefaultRenewCheckInterval
)

// Config configures a Manager. Either Domains (ACME) or CertFile and
// KeyFile (a certificate from files) must be set, not both.
type Config struct {
	// Domains are the names to get certificates for by ACME.
	Domains []string
	// CA is the ACME directory URL. Default DefaultCA.
	CA string
	// Email is the ACME account's contact address; optional.
	Email string
	// CARoots, if set, are the roots trusted for the CA's HTTPS (a test
	// CA's, such as pebble's); nil trusts the system's.
	CARoots *x509.CertPool
	// CertFile and KeyFile are a PEM certificate (with its chain) and its
	// key, served instead of ACME certificates.
	CertFile, KeyFile string
	// Storage keeps certificates, ACME accounts, challenges and locks,
	// shared by every node. Required with Domains.
	Storage certmagic.Storage
	// HTTPAddr and HTTPSAddr are the addresses of the node's plain HTTP
	// and HTTPS listeners, which answer the challenges: certmagic must
	// not listen on their ports itself.
	HTTPAddr, HTTPSAddr string
	// Challenges are the ACME challenge types the node's orders offer:
	// ChallengeHTTP (answered on the plain HTTP listener, for every
	// node's orders, only when offered) and ChallengeTLSALPN (on the
	// HTTPS listener).
	// Behind a load balancer that terminates TLS, TLS-ALPN-01 cannot
	// reach the node; without plain HTTP from the CA, HTTP-01 cannot.
	// Default both.
	Challenges []string
	// RenewalWindowRatio is the share of a certificate's lifetime before
	// its expiry in which it is renewed, in (0, 1). Default
	// DefaultRenewalWindowRatio.
	RenewalWindowRatio float64
	// RenewCheckInterval is how often certificates are checked for
	// renewal. Default DefaultRenewCheckInterval.
	RenewCheckInterval time.Duration
	// Logger receives the logs, certmagic's too. Default slog.Default().
	Logger *slog.Logger
}

// The challenge types of Config.Challenges.
const (
	ChallengeHTTP    = "http-01"
	ChallengeTLSALPN = "tls-alpn-01"
)

// offers reports whether c's orders offer challenge type kind.
func (c Config) offers(kind string) bool { return slices.Contains(c.Challenges, kind) }

func (c Config) withDefaults() Config {
	if len(c.Challenges) == 0 {
		c.Challenges = []string{ChallengeHTTP, ChallengeTLSALPN}
	}
	if c.CA == "" {
		c.CA = DefaultCA
	}
	if c.RenewalWindowRatio == 0 {
		c.RenewalWindowRatio = DefaultRenewalWindowRatio
	}
	if c.RenewCheckInterval == 0 {
		c.RenewCheckInterval = DefaultRenewCheckInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Enabled reports whether c turns HTTPS on.
func (c Config) Enabled() bool {
	return len(c.Domains) > 0 || c.CertFile != "" || c.KeyFile != ""
}

// Validate reports the first field of c, defaults applied, that cannot
// work, as a *config.Error.
func (c Config) Validate() error {
	c = c.withDefaults()
	if (c.CertFile == "") != (c.KeyFile == "") {
		field := "CertFile"
		if c.KeyFile == "" {
			field = "KeyFile"
		}
		return &config.Error{Field: field, Value: `""`, Problem: "is required with the other of the certificate and key files"}
	}
	if c.CertFile != "" && len(c.Domains) > 0 {
		return &config.Error{Field: "Domains", Value: strings.Join(c.Domains, ","), Problem: "must be empty with a certificate file",
			Why: "a certificate comes either from files or by ACME"}
	}
	for _, d := range c.Domains {
		if err := checkDomain(d); err != "" {
			return &config.Error{Field: "Domains", Value: d, Problem: err}
		}
	}
	if len(c.Domains) > 0 && c.Storage == nil {
		return &config.Error{Field: "Storage", Value: "nil", Problem: "is required with domains"}
	}
	if !strings.HasPrefix(c.CA, "https://") {
		return &config.Error{Field: "CA", Value: c.CA, Problem: "must be an https:// URL of an ACME directory"}
	}
	for _, ch := range c.Challenges {
		if ch != ChallengeHTTP && ch != ChallengeTLSALPN {
			return &config.Error{Field: "Challenges", Value: strings.Join(c.Challenges, ","), Problem: "must be " + ChallengeHTTP + ", " + ChallengeTLSALPN + " or both"}
		}
	}
	if !(c.RenewalWindowRatio > 0 && c.RenewalWindowRatio < 1) {
		return &config.Error{Field: "RenewalWindowRatio", Value: c.RenewalWindowRatio, Problem: "must be between 0 and 1"}
	}
	if c.RenewCheckInterval < 0 {
		return &config.Error{Field: "RenewCheckInterval", Value: c.RenewCheckInterval, Problem: "must not be negative"}
	}
	return nil
}

// checkDomain says what is wrong with d as a name to order a certificate
// for, or "".
func checkDomain(d string) string {
	switch {
	case d == "":
		return "must not contain an empty name"
	case strings.HasPrefix(d, "*."):
		return "must not contain a wildcard: HTTP-01 and TLS-ALPN-01 cannot validate it"
	case strings.ContainsAny(d, ":/ "):
		return "must contain host names only, without scheme, port or path"
	}
	if _, err := idna.Lookup.ToASCII(d); err != nil {
		return "must contain valid host names"
	}
	if !strings.Contains(d, ".") {
		return "must contain fully qualified names"
	}
	return ""
}
