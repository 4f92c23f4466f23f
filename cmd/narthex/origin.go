package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/gc"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/origin"
	"github.com/narthex-cache/narthex/placement/maintain"
	"github.com/narthex-cache/narthex/sql"
	"github.com/narthex-cache/narthex/stores"
	"golang.org/x/sync/errgroup"
)

// originFlags are the settings of "narthex origin".
type originFlags struct {
	listen, publicURL, storeDir, localStore                      *string
	signingKeyFiles, trustedKeys, pprofListen                    *string
	databaseURL                                                  func() (string, error)
	requireSignature                                             *bool
	maxNarSize, maxNarinfoSize, minUploadRate                    *int64
	priority, maxSignatures, maxConnsPerClient                   *int
	readHeaderTimeout, idleTimeout, uploadWindow                 *time.Duration
	downloadStall, tempFileMaxAge, sweepInterval, fetchRetention *time.Duration
	maintainInterval, gcInterval                                 *time.Duration
	gc                                                           *gcFlags
	dashboard                                                    *dashboardFlags
	tls                                                          *tlsFlags
}

func defineOriginFlags(f *flags) *originFlags {
	o := &originFlags{}
	o.listen = f.String("listen", "127.0.0.1:8080", "address to serve HTTP on")
	o.databaseURL = f.databaseURL("PostgreSQL connection string of the origin database; pool_max_conns=N in it sizes\nthe connection pool (default 16)")
	o.publicURL = f.String("public-url", "", "URL clients reach this origin at (default http://<listen>)")
	o.storeDir = f.String("store-dir", narinfo.NixStoreDir, "Nix store directory of the cache")
	o.localStore = f.String("local-store", "./narthex-nars", "directory the local store keeps NAR files in")
	o.signingKeyFiles = f.String("signing-key-file", "", "comma-separated files with Nix secret keys to sign narinfos with")
	o.trustedKeys = f.String("trusted-public-keys", "", "space-separated public keys (name:base64) whose signatures uploads may carry")
	o.requireSignature = f.Bool("require-signature", false, "refuse uploads that carry no valid signature by a trusted public key")
	o.maxNarSize = f.Int64("max-nar-size", origin.DefaultMaxNarSize, "largest NAR file accepted, in bytes")
	o.maxNarinfoSize = f.Int64("max-narinfo-size", origin.DefaultMaxNarinfoSize, "largest narinfo accepted, in bytes")
	o.maxSignatures = f.Int("max-signatures", origin.DefaultMaxSignatures, "most Sig lines a narinfo may carry (400 above)")
	o.priority = f.Int("priority", origin.DefaultPriority, "Priority announced in nix-cache-info (lower is preferred)")
	o.readHeaderTimeout = f.Duration("read-header-timeout", origin.DefaultReadHeaderTimeout, "time a client has to send a request's headers")
	o.idleTimeout = f.Duration("idle-timeout", origin.DefaultIdleTimeout, "time after which an idle keep-alive connection is closed")
	o.minUploadRate = f.Int64("min-upload-rate", origin.DefaultMinUploadRate, "bytes per second a request body must bring, averaged over --upload-rate-window (408 and\nclose below)")
	o.uploadWindow = f.Duration("upload-rate-window", origin.DefaultUploadRateWindow, "window over which --min-upload-rate is measured")
	o.downloadStall = f.Duration("download-stall-timeout", origin.DefaultDownloadStallTimeout, "time a client has to take each 256 KiB of a NAR download before it is cut off")
	o.maxConnsPerClient = f.Int("max-conns-per-client", origin.DefaultMaxConnsPerClient, "most open connections from one IP address (further ones get 503 and are closed)")
	o.tempFileMaxAge = f.Duration("temp-file-max-age", origin.DefaultTempFileMaxAge, "time since its last write after which an interrupted upload's temporary file in\nthe local store is removed; must exceed --upload-rate-window")
	o.sweepInterval = f.Duration("sweep-interval", origin.DefaultSweepInterval, "how often the local store is swept of stale temporary files")
	o.fetchRetention = f.Duration("analytics-retention", origin.DefaultFetchCountRetention, "how long the raw fetch counts edges send are kept (their daily and hourly roll-ups stay);\nolder ones are removed every --sweep-interval")
	o.maintainInterval = f.Duration("maintain-interval", defaultOriginMaintainInterval, "how often the origin runs a pass of store maintenance (as narthex stores maintain),\nthe first one interval after start; 0 turns it off")
	o.gcInterval = f.Duration("gc-interval", 0, "how often the origin runs a garbage collection (as narthex gc, with the --gc-* settings),\nthe first one interval after start; 0 turns it off")
	o.gc = defineGCFlags(f, "gc-", o.localStore)
	o.pprofListen = f.String("pprof-listen", "", "address to serve Go profiles (/debug/pprof/) on; off when empty")
	o.dashboard = defineDashboardFlags(f)
	o.tls = defineTLSFlags(f)
	return o
}

// defaultOriginMaintainInterval is how often an origin maintains its stores
// unless told otherwise: often enough that new uploads reach the stores that
// populate within minutes, seldom enough that verification's sample costs
// little.
const defaultOriginMaintainInterval = 10 * time.Minute

func (o *originFlags) config(log *slog.Logger) (origin.Config, error) {
	cfg := origin.Config{
		StoreDir:                *o.storeDir,
		Priority:                *o.priority,
		PublicURL:               *o.publicURL,
		LocalStoreDir:           *o.localStore,
		RequireTrustedSignature: *o.requireSignature,
		MaxNarSize:              *o.maxNarSize,
		MaxNarinfoSize:          *o.maxNarinfoSize,
		MaxSignatures:           *o.maxSignatures,
		ReadHeaderTimeout:       *o.readHeaderTimeout,
		IdleTimeout:             *o.idleTimeout,
		MinUploadRate:           *o.minUploadRate,
		UploadRateWindow:        *o.uploadWindow,
		DownloadStallTimeout:    *o.downloadStall,
		MaxConnsPerClient:       *o.maxConnsPerClient,
		TempFileMaxAge:          *o.tempFileMaxAge,
		SweepInterval:           *o.sweepInterval,
		FetchCountRetention:     *o.fetchRetention,
		OpenStore:               openUploadStore,
		Logger:                  log,
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + *o.listen
	}
	for _, path := range strings.Split(*o.signingKeyFiles, ",") {
		if path = strings.TrimSpace(path); path == "" {
			continue
		}
		s, err := readSecret("signing-key-file", path)
		if err != nil {
			return cfg, err
		}
		k, err := narinfo.ParseSecretKey(s)
		if err != nil {
			return cfg, fmt.Errorf("--signing-key-file %s: %w", path, err)
		}
		cfg.SigningKeys = append(cfg.SigningKeys, k)
	}
	for _, s := range strings.Fields(*o.trustedKeys) {
		k, err := narinfo.ParsePublicKey(s)
		if err != nil {
			return cfg, fmt.Errorf("--trusted-public-keys %q: %w", s, err)
		}
		cfg.TrustedKeys = append(cfg.TrustedKeys, k)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, flagError(err, originFlagNames)
	}
	return cfg, nil
}

// originFlagNames maps the Config fields of the origin to the flags of
// "narthex origin" that set them.
var originFlagNames = map[string]string{
	"StoreDir":                "--store-dir",
	"Priority":                "--priority",
	"PublicURL":               "--public-url",
	"LocalStoreDir":           "--local-store",
	"SigningKeys":             "--signing-key-file",
	"TrustedKeys":             "--trusted-public-keys",
	"RequireTrustedSignature": "--require-signature",
	"MaxNarSize":              "--max-nar-size",
	"MaxNarinfoSize":          "--max-narinfo-size",
	"MaxSignatures":           "--max-signatures",
	"ReadHeaderTimeout":       "--read-header-timeout",
	"IdleTimeout":             "--idle-timeout",
	"MinUploadRate":           "--min-upload-rate",
	"UploadRateWindow":        "--upload-rate-window",
	"DownloadStallTimeout":    "--download-stall-timeout",
	"MaxConnsPerClient":       "--max-conns-per-client",
	"TempFileMaxAge":          "--temp-file-max-age",
	"SweepInterval":           "--sweep-interval",
	"FetchCountRetention":     "--analytics-retention",
}

func runOrigin(ctx context.Context, args []string) error {
	f := newFlags("origin", "Serves the Nix binary cache protocol with uploads: narinfos and the reference\ngraph go to PostgreSQL, NAR files to the local store.")
	o := defineOriginFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	dbURL, err := o.databaseURL()
	if err != nil {
		return err
	}
	cfg, err := o.config(log)
	if err != nil {
		return err
	}
	if *o.maintainInterval < 0 {
		return fmt.Errorf("--maintain-interval %s must not be negative", *o.maintainInterval)
	}
	if *o.gcInterval < 0 {
		return fmt.Errorf("--gc-interval %s must not be negative", *o.gcInterval)
	}
	db, err := openPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var collector *gc.Collector
	if *o.gcInterval != 0 {
		if collector, err = o.gc.collector(db, "gc-", log, (&gcProgress{log: log}).update); err != nil {
			return err
		}
	}
	if err := sql.MigrateURL(ctx, dbURL); err != nil {
		return err
	}
	if err := startPprof(ctx, log, *o.pprofListen); err != nil {
		return err
	}
	var admin *adminServer
	if cfg.Dashboard, admin, err = o.dashboard.setUp(db, log); err != nil {
		return err
	}
	tn, err := o.tls.setUp(ctx, log, db, dbURL, *o.listen)
	if err != nil {
		return err
	}
	defer tn.close()
	tn.origin(&cfg)
	ln, err := net.Listen("tcp", *o.listen)
	if err != nil {
		return err
	}
	if err := tn.start(ctx); err != nil {
		ln.Close()
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveOrigin(gctx, cfg, db, ln) })
	if *o.maintainInterval != 0 {
		g.Go(func() error { return maintainEvery(gctx, db, *o.localStore, *o.maintainInterval, log) })
	}
	if collector != nil {
		g.Go(func() error { return gcEvery(gctx, collector, *o.gcInterval, log) })
	}
	if admin != nil {
		g.Go(func() error { return admin.serve(gctx) })
	}
	return g.Wait()
}

// maintainEvery runs a pass of store maintenance every interval until ctx
// ends, the first one interval from now, so that a start is not slowed by
// one; localDir is the origin's own local store.
func maintainEvery(ctx context.Context, db *pgxpool.Pool, localDir string, interval time.Duration, log *slog.Logger) error {
	m, err := maintain.New(maintain.Config{DB: db, Open: openMaintainedStore(localDir), Logger: log.With("component", "maintain")})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(interval):
	}
	return m.Run(ctx, interval)
}

// serveOrigin serves an origin on ln until ctx ends.
func serveOrigin(ctx context.Context, cfg origin.Config, db *pgxpool.Pool, ln net.Listener) error {
	srv, err := origin.New(ctx, cfg, db)
	if err != nil {
		return err
	}
	cfg.Logger.Info("origin listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	return srv.Serve(ctx, ln)
}

// originPoolConns is the origin's default number of database connections:
// Nix asks for a closure's narinfos many at a time (up to 25 connections of
// its own), and each upload holds a connection until it commits.
const originPoolConns = 16

// openPool opens a connection pool on the origin database, of
// originPoolConns connections unless url sets pool_max_conns.
func openPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = originPoolConns
	}
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return db, nil
}

// openUploadStore opens a store of the store table for the origin's uploads
// (the local store aside, which the origin opens itself); s3 credentials
// come from the AWS SDK's default chain, under the store's profile.
func openUploadStore(ctx context.Context, kind string, settings []byte, baseURL string) (origin.PayloadStore, error) {
	return stores.OpenKind(ctx, kind, settings, baseURL, "")
}
