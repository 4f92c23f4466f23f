package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/certmagic"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Manager holds a node's certificates: it obtains, loads and renews them,
// and hands them to its servers.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	cache   *certmagic.Cache
	magic   *certmagic.Config
	issuer  *certmagic.ACMEIssuer // nil with certificate files
	metrics *metrics
	// fileNames are the names of the certificate from files.
	fileNames []string
	fast      fasthttp.RequestHandler // the HTTP-01 handler for fasthttp
}

// ChallengePrefix is the path under which HTTP-01 challenges are asked.
const ChallengePrefix = "/.well-known/acme-challenge/"

// New validates cfg and makes a Manager. With certificate files it loads
// them, and refuses a certificate that does not match its key. Nothing
// is ordered before Start.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "tls")}
	m.metrics = newMetrics(m)
	zl := newZapLogger(m.log)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		RenewCheckInterval: cfg.RenewCheckInterval,
		Logger:             zl,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		RenewalWindowRatio: cfg.RenewalWindowRatio,
		Storage:            cfg.Storage,
		OnEvent:            m.onEvent,
		Logger:             zl,
	})
	if cfg.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			m.cache.Stop()
			return nil, fmt.Errorf("certificate %s and key %s: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		m.fileNames = certNames(pair.Leaf)
		if _, err := m.magic.CacheUnmanagedCertificatePEMFile(ctx, cfg.CertFile, cfg.KeyFile, nil); err != nil {
			m.cache.Stop()
			return nil, fmt.Errorf("certificate %s: %w", cfg.CertFile, err)
		}
		return m, nil
	}
	httpHost, httpPort := hostPort(cfg.HTTPAddr)
	_, tlsPort := hostPort(cfg.HTTPSAddr)
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:           cfg.CA,
		Email:        cfg.Email,
		Agreed:       true,
		TrustedRoots: cfg.CARoots,
		// The node's own listeners answer the challenges: certmagic,
		// finding their ports taken, leaves them to these.
		ListenHost:              httpHost,
		AltHTTPPort:             httpPort,
		AltTLSALPNPort:          tlsPort,
		DisableHTTPChallenge:    !cfg.offers(ChallengeHTTP),
		DisableTLSALPNChallenge: !cfg.offers(ChallengeTLSALPN),
		Logger:                  zl,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	challenge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !m.issuer.HandleHTTPChallenge(w, r) {
			http.NotFound(w, r)
		}
	})
	m.fast = fasthttpadaptor.NewFastHTTPHandler(challenge)
	return m, nil
}

// certNames are the names cert is served for, as certmagic indexes them:
// its DNS names and IP addresses, or its common name when it has neither.
func certNames(cert *x509.Certificate) []string {
	names := slices.Clone(cert.DNSNames)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && cert.Subject.CommonName != "" {
		names = append(names, cert.Subject.CommonName)
	}
	return names
}

func hostPort(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// Start begins managing the certificates of Domains in the background
// until ctx ends or Stop: each is loaded from the storage, or ordered
// when there is none, and renewed when due. A failed order is logged and
// retried with backoff; plain HTTP goes on meanwhile.
func (m *Manager) Start(ctx context.Context) error {
	if len(m.cfg.Domains) == 0 {
		return nil
	}
	for _, d := range m.cfg.Domains {
		if err := m.repair(ctx, d); err != nil {
			return err
		}
	}
	if err := m.magic.ManageAsync(ctx, m.cfg.Domains); err != nil {
		return fmt.Errorf("manage certificates: %w", err)
	}
	m.log.Info("managing certificates", "domains", strings.Join(m.cfg.Domains, ","), "ca", m.cfg.CA)
	return nil
}

// repair removes the stored certificate of domain when it cannot be
// loaded (truncated, not a certificate, not matching its key), under the
// lock its ordering takes, so that it is ordered anew instead of failing
// at every start.
func (m *Manager) repair(ctx context.Context, domain string) error {
	if err := m.checkStored(ctx, domain); err == nil {
		return nil
	}
	lock := "issue_cert_" + domain // certmagic's own, held while it orders
	if err := m.cfg.Storage.Lock(ctx, lock); err != nil {
		return fmt.Errorf("lock %s: %w", lock, err)
	}
	defer func() {
		if err := m.cfg.Storage.Unlock(context.WithoutCancel(ctx), lock); err != nil {
			m.log.Warn("could not release a certificate lock", "lock", lock, "err", err)
		}
	}()
	err := m.checkStored(ctx, domain)
	if err == nil {
		return nil // another node repaired it meanwhile
	}
	m.log.Error("stored certificate unusable; ordering a new one", "domain", domain, "err", err)
	m.metrics.failures.WithLabelValues("load").Inc()
	prefix := certmagic.StorageKeys.CertsSitePrefix(m.issuer.IssuerKey(), domain)
	if err := m.cfg.Storage.Delete(ctx, prefix); err != nil {
		return fmt.Errorf("delete unusable certificate %s: %w", prefix, err)
	}
	return nil
}

// checkStored reports what is wrong with the stored certificate of
// domain, without caching it (certmagic manages only what it cached
// itself); none stored is nothing wrong.
func (m *Manager) checkStored(ctx context.Context, domain string) error {
	issuer := m.issuer.IssuerKey()
	load := func(key string) ([]byte, error) {
		b, err := m.cfg.Storage.Load(ctx, key)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err // the database, not the certificate
		}
		return b, nil
	}
	crt, err := load(certmagic.StorageKeys.SiteCert(issuer, domain))
	if err != nil {
		return nil
	}
	key, err := load(certmagic.StorageKeys.SitePrivateKey(issuer, domain))
	if err != nil {
		return nil
	}
	meta, err := load(certmagic.StorageKeys.SiteMeta(issuer, domain))
	if err != nil {
		return nil
	}
	if crt == nil && key == nil && meta == nil {
		return nil
	}
	if _, err := tls.X509KeyPair(crt, key); err != nil {
		return err
	}
	if !json.Valid(meta) {
		return errors.New("metadata is not JSON")
	}
	return nil
}

// Stop ends the renewals and the cache's maintenance.
func (m *Manager) Stop() { m.cache.Stop() }

// TLSConfig is the configuration of an HTTPS listener: it serves the
// managed certificates and answers TLS-ALPN-01 challenges. It offers
// HTTP/1.1 only.
func (m *Manager) TLSConfig() *tls.Config {
	c := m.magic.TLSConfig()
	c.NextProtos = []string{"http/1.1", "acme-tls/1"}
	c.MinVersion = tls.VersionTLS12
	return c
}

// HandleHTTPChallenge answers r if it asks for an HTTP-01 challenge of
// this node's or another node's order, and reports whether it did.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if m.issuer == nil || !strings.HasPrefix(r.URL.Path, ChallengePrefix) {
		return false
	}
	return m.issuer.HandleHTTPChallenge(w, r)
}

// HandleFastHTTPChallenge is HandleHTTPChallenge for fasthttp: it answers
// any request under ChallengePrefix (404 when no challenge matches).
func (m *Manager) HandleFastHTTPChallenge(ctx *fasthttp.RequestCtx) bool {
	if m.issuer == nil || !strings.HasPrefix(string(ctx.Path()), ChallengePrefix) {
		return false
	}
	m.fast(ctx)
	return true
}
