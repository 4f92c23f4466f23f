package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/certstore"
	"github.com/narthex-cache/narthex/edge"
	"github.com/narthex-cache/narthex/origin"
	"github.com/narthex-cache/narthex/tlsconf"
)

// tlsFlags are the HTTPS settings of "narthex origin" and "narthex edge".
type tlsFlags struct {
	domains, httpsListen, ca, email, caRoot, certFile, keyFile, challenges *string
	lockLease                                                              *time.Duration
	renewalRatio                                                           *float64
}

func defineTLSFlags(f *flags) *tlsFlags {
	return &tlsFlags{
		domains:      f.String("domain", "", "comma-separated names to get certificates for by ACME; turns HTTPS on. Certificates,\nACME accounts and locks are kept in the origin database, shared by every node"),
		httpsListen:  f.String("https-listen", "", "address to serve HTTPS on (default :443 when HTTPS is on); it answers ACME TLS-ALPN-01\nchallenges, --listen keeps serving plain HTTP and answers HTTP-01 challenges"),
		ca:           f.String("acme-ca", tlsconf.DefaultCA, "ACME directory URL"),
		email:        f.String("acme-email", "", "contact address of the ACME account (optional)"),
		caRoot:       f.String("acme-ca-root", "", "PEM file of the roots to trust for the ACME server's HTTPS (a test CA's); default the system's"),
		certFile:     f.String("tls-cert-file", "", "PEM certificate (with its chain) to serve HTTPS with, instead of ACME; turns HTTPS on"),
		keyFile:      f.String("tls-key-file", "", "PEM private key of --tls-cert-file"),
		lockLease:    f.Duration("tls-lock-lease", certstore.DefaultLease, "how long the certificate lock of a node that died mid-order keeps other nodes waiting"),
		challenges:   f.String("acme-challenges", tlsconf.ChallengeHTTP+","+tlsconf.ChallengeTLSALPN, "ACME challenge types this node's orders offer: "+tlsconf.ChallengeHTTP+" (answered on --listen)\nand/or "+tlsconf.ChallengeTLSALPN+" (on --https-listen; not behind a load balancer that ends TLS); without\n"+tlsconf.ChallengeHTTP+" it answers no node's HTTP-01 challenge"),
		renewalRatio: floatFlag(f, "acme-renewal-ratio", tlsconf.DefaultRenewalWindowRatio, "share of a certificate's lifetime, before its expiry, in which it is renewed"),
	}
}

// tlsFlagNames maps the Config fields of tlsconf and certstore to the
// flags that set them.
var tlsFlagNames = map[string]string{
	"Domains":    "--domain",
	"CA":         "--acme-ca",
	"CertFile":   "--tls-cert-file",
	"KeyFile":    "--tls-key-file",
	"Lease":      "--tls-lock-lease",
	"Challenges": "--acme-challenges",

	"RenewalWindowRatio": "--acme-renewal-ratio",
}

// tlsNode is the HTTPS of a running node: its certificates, its HTTPS
// listener and, with ACME, the storage it shares with the other nodes.
type tlsNode struct {
	log     *slog.Logger
	manager *tlsconf.Manager
	ln      net.Listener
	store   *certstore.Storage // nil with certificate files
	pool    *pgxpool.Pool      // the storage's own, when not the caller's
}

// setUp checks the flags, loads a certificate from files or prepares
// ACME on the origin database (db, or a small pool of its own on dbURL
// when db is nil), and listens for HTTPS; nil when HTTPS is off. plain is
// the --listen address, which answers HTTP-01 challenges. Nothing is
// ordered before start.
func (t *tlsFlags) setUp(ctx context.Context, log *slog.Logger, db *pgxpool.Pool, dbURL, plain string) (*tlsNode, error) {
	cfg := tlsconf.Config{CA: *t.ca, Email: *t.email, CertFile: *t.certFile, KeyFile: *t.keyFile,
		HTTPAddr: plain, HTTPSAddr: *t.httpsListen, RenewalWindowRatio: *t.renewalRatio, Challenges: list(*t.challenges), Logger: log}
	for _, d := range list(*t.domains) {
		cfg.Domains = append(cfg.Domains, strings.ToLower(d))
	}
	if !cfg.Enabled() {
		if *t.httpsListen != "" {
			return nil, fmt.Errorf("--https-listen needs --domain or --tls-cert-file")
		}
		return nil, nil
	}
	if cfg.HTTPSAddr == "" {
		cfg.HTTPSAddr = ":443"
	}
	if *t.caRoot != "" {
		pem, err := os.ReadFile(*t.caRoot)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-root: %w", err)
		}
		cfg.CARoots = x509.NewCertPool()
		if !cfg.CARoots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--acme-ca-root %s: no PEM certificate in it", *t.caRoot)
		}
	}
	n := &tlsNode{log: log}
	if len(cfg.Domains) > 0 {
		if err := n.openStorage(ctx, db, dbURL, *t.lockLease, log); err != nil {
			return nil, flagError(err, tlsFlagNames)
		}
		cfg.Storage = n.store
	}
	m, err := tlsconf.New(ctx, cfg)
	if err != nil {
		n.close()
		if cfg.CertFile != "" && cfg.Validate() == nil {
			return nil, fmt.Errorf("--tls-cert-file, --tls-key-file: %w", err)
		}
		return nil, flagError(err, tlsFlagNames)
	}
	n.manager = m
	if n.ln, err = edge.Listen(ctx, cfg.HTTPSAddr, log); err != nil {
		n.close()
		return nil, fmt.Errorf("--https-listen: %w", err)
	}
	return n, nil
}

func (n *tlsNode) openStorage(ctx context.Context, db *pgxpool.Pool, dbURL string, lease time.Duration, log *slog.Logger) error {
	if db == nil {
		// Certificates are stored and locked by plain queries.
		var err error
		if n.pool, err = smallPool(ctx, dbURL, 2); err != nil {
			return fmt.Errorf("certificate storage: %w", err)
		}
		db = n.pool
	}
	s, err := certstore.New(certstore.Config{DB: db, Lease: lease, Logger: log})
	if err != nil {
		n.close()
		return err
	}
	n.store = s
	return nil
}

// start begins obtaining and renewing certificates, once the node's
// listeners are up to answer the challenges.
func (n *tlsNode) start(ctx context.Context) error {
	if n == nil {
		return nil
	}
	n.log.Info("https listening", "addr", n.ln.Addr().String())
	return n.manager.Start(ctx)
}

// edge sets an edge up to serve HTTPS and answer challenges.
func (n *tlsNode) edge(cfg *edge.Config) {
	if n == nil {
		return
	}
	cfg.HTTPS = &edge.HTTPS{Listener: n.ln, TLS: n.manager.TLSConfig()}
	cfg.ACMEChallenge = n.manager.HandleFastHTTPChallenge
	cfg.Collectors = append(cfg.Collectors, n.manager.Collectors()...)
}

// origin sets an origin up to serve HTTPS and answer challenges.
func (n *tlsNode) origin(cfg *origin.Config) {
	if n == nil {
		return
	}
	cfg.HTTPS = &origin.HTTPS{Listener: n.ln, TLS: n.manager.TLSConfig()}
	cfg.ACMEChallenge = func(w http.ResponseWriter, r *http.Request) bool { return n.manager.HandleHTTPChallenge(w, r) }
	cfg.Collectors = append(cfg.Collectors, n.manager.Collectors()...)
}

// close stops renewals and lets go of what the node holds.
func (n *tlsNode) close() {
	if n == nil {
		return
	}
	if n.manager != nil {
		n.manager.Stop()
	}
	if n.ln != nil {
		n.ln.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.pool != nil {
		n.pool.Close()
	}
}
