package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/analytics"
	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/edge"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/replication"
	"github.com/narthex-cache/narthex/stores"
)

func runEdge(ctx context.Context, args []string) error {
	f := newFlags("edge", "Serves narinfo lookups from a local replica of the origin database, kept current\nby logical replication, and redirects NAR downloads to a store holding the file.")
	listen := f.String("listen", "127.0.0.1:8081", "address to serve HTTP on")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database, as a role with REPLICATION")
	name := f.String("name", "", "edge name, 1-40 characters of [a-z0-9_]; names its replication slot (required)")
	replicaDir := f.String("replica-dir", "./narthex-replica", "directory of the local replica")
	storeDir := f.String("store-dir", narinfo.NixStoreDir, "Nix store directory announced in nix-cache-info")
	priority := f.Int("priority", edge.DefaultPriority, "Priority announced in nix-cache-info (lower is preferred)")
	hitCC := f.String("hit-cache-control", edge.DefaultHitCacheControl, "Cache-Control of narinfos found")
	missCC := f.String("miss-cache-control", edge.DefaultMissCacheControl, "Cache-Control of narinfos not found")
	maxLag := f.Duration("max-lag", edge.DefaultMaxLag, "replica staleness above which /readyz answers 503")
	memCache := f.Int("memory-cache", replication.DefaultMemoryCacheBytes, "bytes of recently served narinfos and NAR locations kept in memory (0: off); the Go\nheap's soft limit is this plus 64 MiB (and twice the GeoIP database) unless GOMEMLIMIT is set")
	engine := f.String("http-engine", edge.DefaultEngine, "HTTP server: uring (io_uring loops, Linux 6.1+; evloop where the kernel refuses io_uring), evloop (epoll loops, Linux) or fasthttp (a goroutine per connection);\nHTTPS (--https-listen) is served by fasthttp over crypto/tls whatever this is")
	loops := f.Int("event-loops", edge.DefaultEventLoops, "event loops of --http-engine uring or evloop")
	geoipDB := f.String("geoip-db", "", "MaxMind-format City database (GeoLite2-City.mmdb or the like) placing clients, so that\nNAR downloads go to the nearest store; reloaded when the file changes. Empty, or a file\nthat cannot be loaded: stores are ranked by download priority alone")
	trusted := f.String("trusted-proxies", "", "comma-separated networks (CIDR) or addresses of proxies whose X-Forwarded-For names\nthe client; empty: the header is ignored")
	nearBand := envParsed(f, "near-band", edge.DefaultNearBandKm, "km further than the nearest store that still count as nearest, download priority then\ndeciding; 0: the nearest store alone", parseKm, f.FlagSet.Float64)
	pprofAddr := f.String("pprof-listen", "", "address to serve Go profiles (/debug/pprof/) on; off when empty")
	countEvery := f.Duration("analytics-interval", analytics.DefaultInterval, "how often the edge sends its fetch counts (hits, misses, redirects, client families,\nby hour and country) to the origin database; a crash loses at most this much; 0: nothing is counted")
	maxKeys := f.Int("analytics-max-keys", analytics.DefaultMaxKeys, "distinct keys counted between two sends; past it, counts go under \"other\"")
	regFlags := defineRegistryFlags(f)
	tlsf := defineTLSFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	proxies, err := parseTrustedProxies(*trusted)
	if err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	rcfg := replication.Config{
		ConnString: url,
		EdgeName:   *name,
		Dir:        *replicaDir,
		Logger:     log,
		// The flag's 0 means off; the Config's zero means the default.
		MemoryCacheBytes: cmp.Or(*memCache, -1),
	}
	ecfg := edge.Config{
		StoreDir:         *storeDir,
		Priority:         *priority,
		HitCacheControl:  *hitCC,
		MissCacheControl: *missCC,
		MaxLag:           *maxLag,
		Engine:           *engine,
		EventLoops:       *loops,
		GeoIPDB:          *geoipDB,
		TrustedProxies:   proxies,
		// The flag's 0 means the nearest store alone; the Config's zero
		// means the default.
		NearBandKm: cmp.Or(*nearBand, math.SmallestNonzeroFloat64),
		Presign:    newPresigners(ctx, nil).presign,
		Logger:     log,
	}
	// A mistake in the flags is reported before anything starts.
	count := counting{interval: *countEvery, maxKeys: *maxKeys}
	if err := errors.Join(rcfg.Validate(), ecfg.Validate(), count.validate()); err != nil {
		return flagError(err, edgeFlagNames)
	}
	reg, err := regFlags.registering(*name)
	if err != nil {
		return err
	}
	if err := startPprof(ctx, log, *pprofAddr); err != nil {
		return err
	}
	limitHeap(log, int64(*memCache)+edgeHeapBytes+geoIPHeapBytes(*geoipDB))
	tn, err := tlsf.setUp(ctx, log, nil, url, *listen)
	if err != nil {
		return err
	}
	defer tn.close()
	tn.edge(&ecfg)
	ln, err := edge.Listen(ctx, *listen, log)
	if err != nil {
		return err
	}
	if err := tn.start(ctx); err != nil {
		ln.Close()
		return err
	}
	return serveEdge(ctx, log, ln, rcfg, ecfg, count, reg, nil)
}

// counting is how an edge counts fetches: every interval, at most maxKeys
// keys; an interval of 0 counts nothing.
type counting struct {
	interval time.Duration
	maxKeys  int
}

func (c counting) validate() error {
	switch {
	case c.interval < 0:
		return &config.Error{Field: "AnalyticsInterval", Value: c.interval, Problem: "must not be negative"}
	case c.maxKeys <= 0:
		return &config.Error{Field: "AnalyticsMaxKeys", Value: c.maxKeys, Problem: "must be positive"}
	}
	return nil
}

// devCounting is the counting of narthex dev's edges.
var devCounting = counting{interval: analytics.DefaultInterval, maxKeys: analytics.DefaultMaxKeys}

// startCounting sets ecfg up to count fetches, and returns the flusher
// that sends them to the origin database over a pool of its own, and the
// pool; nil when counting is off.
func startCounting(ctx context.Context, log *slog.Logger, c counting, edgeName, connString string, ecfg *edge.Config) (*analytics.Flusher, *pgxpool.Pool, error) {
	if c.interval == 0 {
		return nil, nil, nil
	}
	// One batch is sent at a time.
	pool, err := smallPool(ctx, connString, 1)
	if err != nil {
		return nil, nil, fmt.Errorf("analytics: %w", err)
	}
	counter := analytics.New(c.maxKeys)
	f, err := analytics.NewFlusher(analytics.FlusherConfig{Edge: edgeName, Interval: c.interval,
		Logger: log.With("component", "analytics")}, counter, pool)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	ecfg.Analytics = counter
	ecfg.Collectors = append(ecfg.Collectors, f.Collectors()...)
	return f, pool, nil
}

// smallPool opens a pool of at most n plain connections to the database
// an edge's connString names (replication=database, if set there, is
// dropped: the replicator adds it to its own connections), for one of the
// edge's few writers: fetch counts, the heartbeat, certificate storage.
func smallPool(ctx context.Context, connString string, n int32) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	delete(pcfg.ConnConfig.RuntimeParams, "replication")
	pcfg.MaxConns = n
	return pgxpool.NewWithConfig(ctx, pcfg)
}

// edgeFlagNames maps the Config fields of the replicator and the server to the
// flags of "narthex edge" that set them.
var edgeFlagNames = map[string]string{
	"ConnString":       "--database-url",
	"EdgeName":         "--name",
	"Dir":              "--replica-dir",
	"MemoryCacheBytes": "--memory-cache",
	"StoreDir":         "--store-dir",
	"Priority":         "--priority",
	"HitCacheControl":  "--hit-cache-control",
	"MissCacheControl": "--miss-cache-control",
	"MaxLag":           "--max-lag",
	"Engine":           "--http-engine",
	"EventLoops":       "--event-loops",
	"GeoIPDB":          "--geoip-db",
	"TrustedProxies":   "--trusted-proxies",
	"NearBandKm":       "--near-band",
	// Not Config fields: counting's own.
	"AnalyticsInterval": "--analytics-interval",
	"AnalyticsMaxKeys":  "--analytics-max-keys",
}

// parseTrustedProxies reads --trusted-proxies: networks in CIDR notation,
// or single addresses, separated by commas.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			ps = append(ps, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies %q is not a network in CIDR notation (such as 10.0.0.0/8) or an address", f)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// parseKm reads a distance in km.
func parseKm(s string) (float64, error) {
	km, err := strconv.ParseFloat(s, 64)
	if err == nil && (math.IsNaN(km) || math.IsInf(km, 0)) {
		err = errors.New("not a distance")
	}
	return km, err
}

// edgeHeapBytes is what an edge's Go heap holds besides its memory cache:
// the presence filter (2.5 bytes per narinfo), connection buffers and the
// replication stream.
const edgeHeapBytes = 64 << 20

// geoIPHeapBytes is what the GeoIP database at path holds of the heap:
// the file, read into memory, twice while a new one is loaded beside the
// one in use. A database that grows later makes the collector work
// harder, never fail.
func geoIPHeapBytes(path string) int64 {
	if path == "" {
		return 0
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return 2 * fi.Size()
}

// limitHeap sets the Go runtime's soft memory limit to n bytes, unless
// GOMEMLIMIT is set. The heap otherwise grows to twice what it holds before
// each collection, which for the memory cache alone means twice its size.
func limitHeap(log *slog.Logger, n int64) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return
	}
	debug.SetMemoryLimit(n)
	log.Debug("go heap soft limit", "bytes", n)
}

// serveEdge runs a replicator, an edge server on ln and the edge's
// heartbeat, registering reg, until ctx ends. ready,
// if not nil, is closed once the replica is bootstrapped.
func serveEdge(ctx context.Context, log *slog.Logger, ln net.Listener, rcfg replication.Config, ecfg edge.Config, c counting, reg registering, ready chan<- struct{}) error {
	flusher, pool, err := startCounting(ctx, log, c, rcfg.EdgeName, rcfg.ConnString, &ecfg)
	if err != nil {
		ln.Close()
		return err
	}
	if pool != nil {
		defer pool.Close()
	}
	rep, err := replication.Open(rcfg)
	if err != nil {
		ln.Close()
		return err
	}
	srv, err := edge.New(ecfg, rep)
	if err != nil {
		ln.Close()
		rep.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rep.Start(ctx)
	stopBeat, err := startHeartbeat(ctx, log, reg, rcfg.ConnString, srv)
	if err != nil {
		ln.Close()
		cancel()
		rep.Close()
		return err
	}
	defer stopBeat()
	if flusher != nil {
		flushed := make(chan struct{})
		go func() {
			defer close(flushed)
			flusher.Run(ctx) // flushes once more when ctx ends
		}()
		// An edge that stops on an error stops the flusher too.
		defer func() { cancel(); <-flushed }()
	}
	go func() {
		// A replicator that gives up (the origin refuses an edge with no
		// replica) ends the edge with its reason.
		<-rep.Done()
		cancel()
	}()
	if ready != nil {
		go func() {
			for !rep.Status().Bootstrapped {
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			close(ready)
		}()
	}
	log.Info("edge listening", "addr", ln.Addr().String(), "edge", rcfg.EdgeName)
	if err := srv.Serve(ctx, ln); err != nil {
		// Requests may still be reading the replica: leave it open.
		return fmt.Errorf("serve: %w", err)
	}
	<-rep.Done()
	if err := rep.Err(); err != nil {
		rep.Close()
		return err
	}
	return rep.Close()
}

// presigners presign the downloads of an edge's private S3 stores: one
// stores.Presigner per store row, made on first use from the row's
// replicated settings and this process's own credentials (creds, or the
// AWS SDK's environment variables and shared files under the settings'
// profile when nil), and made again when the row's settings change.
type presigners struct {
	ctx   context.Context
	creds aws.CredentialsProvider
	mu    sync.Mutex
	m     map[int]*storePresigner // by store id
}

type storePresigner struct {
	settings []byte // the row's settings it was made from
	p        *stores.Presigner
	err      error
}

func newPresigners(ctx context.Context, creds aws.CredentialsProvider) *presigners {
	return &presigners{ctx: ctx, creds: creds, m: map[int]*storePresigner{}}
}

// presign returns a presigned GET URL of key in st (edge.Config.Presign).
func (ps *presigners) presign(st *replica.Store, key []byte) (string, error) {
	p, err := ps.presigner(st)
	if err != nil {
		return "", err
	}
	return p.PresignGet(ps.ctx, string(key))
}

func (ps *presigners) presigner(st *replica.Store) (*stores.Presigner, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if sp := ps.m[st.ID]; sp != nil && bytes.Equal(sp.settings, st.Settings) {
		return sp.p, sp.err
	}
	// A setting the edge cannot use is reported at each request for the
	// store (rarely logged by the edge), until the row is changed.
	sp := &storePresigner{settings: bytes.Clone(st.Settings)}
	var settings stores.S3Settings
	if err := json.Unmarshal(st.Settings, &settings); err != nil {
		sp.err = fmt.Errorf("store %s: settings: %w", st.Name, err)
	} else if sp.p, sp.err = stores.NewPresigner(ps.ctx, settings, ps.creds); sp.err != nil {
		sp.err = fmt.Errorf("store %s: %w", st.Name, sp.err)
	}
	ps.m[st.ID] = sp
	return sp.p, sp.err
}
