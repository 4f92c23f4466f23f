package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/narthex-cache/narthex/loadtest"
)

const loadtestUsage = `usage: narthex loadtest <mode> [flags]

Modes (every one targets loopback only and prints a table, or JSON with --json):
  populate   write a synthetic cache of --count paths into the origin database
  locations  record --count NAR files with a copy in each of --stores, for NAR redirects
  payloads   write --count files of random bytes into a local store and record them, for a backfill
  filecache  write a synthetic file:// binary cache of --count paths, as nix copy --to file:// would
  geoip      write a GeoIP City database placing 127.1.0.0/16 in Frankfurt, 127.2.0.0/16 in Singapore
  lookup     narinfo (or NAR) GETs against one or more servers (edges, nginx, ceiling)
  wrk        the same narinfo GETs sent by wrk, the C load generator, as a second opinion
  ceiling    a bare fasthttp server answering every request with a narinfo (or a miss, or a redirect)
  lag        commit paths at the origin and time their arrival on edges
  bootstrap  time a fresh edge from start to ready; its memory and replica size
  ingest     synthetic uploads through the origin's PUT API
  soak       lookups, commits and an edge killed every minute, for minutes; checks nothing is lost
  dashboard  fill an empty database with a year of fetch counts and time the dashboard's queries
  gc         fill an empty database with a graph of --paths paths, half garbage, and time ways to mark it
  gcrun      collect that database with narthex gc while uploads go to its origin and lookups to its edge
  report     write BENCHMARKS.md from the results folder of loadtest/bench.sh

Run "narthex loadtest <mode> -h" for a mode's flags.
`

var loadtestModes = map[string]command{
	"populate":  runPopulate,
	"locations": runLocations,
	"geoip":     runGeoIP,
	"payloads":  runPayloads,
	"filecache": runFileCache,
	"lookup":    runLookup,
	"wrk":       runWrk,
	"ceiling":   runCeiling,
	"lag":       runLag,
	"bootstrap": runBootstrap,
	"ingest":    runIngest,
	"soak":      runSoak,
	"report":    runReport,
	"dashboard": runDashboardBench,
	"gc":        runGCBench,
	"gcrun":     runGCRun,
}

func runLoadtest(ctx context.Context, args []string) error {
	return dispatch(ctx, args, "mode", loadtestUsage, loadtestModes, "\n\n"+loadtestUsage)
}

// report writes v to stdout as one JSON object or as its table.
func report(asJSON bool, v any, table func(io.Writer) error) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return table(os.Stdout)
}

// reportPartial writes res, when the run got far enough to return one,
// and returns the run's error, or else the report's.
func reportPartial[T any, R interface {
	*T
	WriteTable(io.Writer) error
}](asJSON bool, res R, err error) error {
	if res != nil {
		if rerr := report(asJSON, res, res.WriteTable); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// floatFlag defines a float64 flag defaulting from its environment variable.
func floatFlag(f *flags, name string, def float64, help string) *float64 {
	return envParsed(f, name, def, help, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }, f.FlagSet.Float64)
}

// list splits a comma-separated flag value, dropping empty items.
func list(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func runPopulate(ctx context.Context, args []string) error {
	f := newFlags("loadtest populate", "Writes a synthetic cache of --count store paths into the origin database with COPY:\nnarinfos signed by a key derived from --seed, their NAR files and references to earlier\npaths. Path i has the hash loadtest.Hash(seed, i); lookup asks for the same keys.")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database (loopback)")
	count := f.Int("count", 0, "number of store paths (required)")
	seed := f.Int64("seed", 1, "seed of the synthetic cache")
	refsMax := f.Int("refs-max", loadtest.DefaultRefsMax, "largest number of references of a path (about a eighth of it on average)")
	staticDir := f.String("static-dir", "", "also write <hash>.narinfo files and nix-cache-info here, for a static web server")
	chunk := f.Int("chunk-size", loadtest.DefaultChunkSize, "paths per transaction")
	timeout := f.Duration("timeout", loadtest.MaxDuration, "longest run (at most 24h)")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	res, err := loadtest.Populate(ctx, loadtest.PopulateConfig{
		DatabaseURL: url, Count: *count, Seed: *seed, RefsMax: *refsMax, StaticDir: *staticDir, ChunkSize: *chunk, Timeout: *timeout,
	})
	if err != nil {
		return err
	}
	return report(*asJSON, res, res.WriteTable)
}

func runLocations(ctx context.Context, args []string) error {
	f := newFlags("loadtest locations", "Records --count NAR files, nar/<hash>.nar for the hashes populate and lookup use with\n--seed, with a location of each in every store of --stores (existing rows of the store\ntable): what `loadtest lookup --nar` asks an edge to redirect. No narinfo is written.")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database (loopback)")
	count := f.Int("count", 0, "number of NAR files (required)")
	seed := f.Int64("seed", 1, "seed of the file names")
	stores := f.String("stores", "", "comma-separated names of the stores holding every file (required)")
	size := f.Int64("size", 1<<20, "size of every file in bytes")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	if *count < 1 {
		return fmt.Errorf("--count %d: give the number of files, at least 1", *count)
	}
	if len(list(*stores)) == 0 {
		return errors.New("--stores is required")
	}
	res, err := loadtest.Locations(ctx, loadtest.LocationsConfig{DatabaseURL: url, Count: *count, Seed: *seed, Stores: list(*stores), Size: *size})
	if err != nil {
		return err
	}
	return report(*asJSON, res, res.WriteTable)
}

func runPayloads(ctx context.Context, args []string) error {
	f := newFlags("loadtest payloads", "Writes --count files of random bytes, sizes drawn from --min-size to --max-size, as\nnar/<name>-<i>.nar into the directory of the local store --store, and records each as a\nNAR file (its real SHA-256) with a good location there: what a backfill copies elsewhere.")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database (loopback)")
	store := f.String("store", "", "name of the local store (required)")
	dir := f.String("dir", "", "directory of that store (required)")
	name := f.String("name", "", "start of every file's name, letters, digits and dashes (required)")
	count := f.Int("count", 0, "number of files (required)")
	minSize := f.String("min-size", "1KiB", "smallest file, a SIZE")
	maxSize := f.String("max-size", "64KiB", "largest file, a SIZE")
	seed := f.Int64("seed", 1, "seed of the sizes and bytes")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	lo, err := parseSize(*minSize)
	if err != nil {
		return fmt.Errorf("--min-size %q: %w", *minSize, err)
	}
	hi, err := parseSize(*maxSize)
	if err != nil {
		return fmt.Errorf("--max-size %q: %w", *maxSize, err)
	}
	res, err := loadtest.Payloads(ctx, loadtest.PayloadsConfig{DatabaseURL: url, Store: *store, Dir: *dir, Name: *name,
		Count: *count, MinSize: lo, MaxSize: hi, Seed: *seed})
	if err != nil {
		return err
	}
	return report(*asJSON, res, res.WriteTable)
}

func runFileCache(_ context.Context, args []string) error {
	f := newFlags("loadtest filecache", "Writes a binary cache directory as `nix copy --to file://DIR` does: nix-cache-info, and\nfor each of --count store paths a narinfo and its uncompressed NAR (one regular file of\n--size random bytes), every hash and size right; paths in chains of ten, each referencing\nthe one before. Nothing is signed. Another --seed makes paths of their own.")
	dir := f.String("dir", "", "directory of the cache (required)")
	count := f.Int("count", 0, "number of store paths (required)")
	size := f.String("size", "1KiB", "bytes of each path's file, a SIZE (at most 64MiB)")
	seed := f.Int64("seed", 1, "seed of the paths and their bytes")
	pathsFile := f.String("paths-file", "", "also write the store paths here, one a line")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required")
	}
	n, err := parseSize(*size)
	if err != nil {
		return fmt.Errorf("--size %q: %w", *size, err)
	}
	if n > 64<<20 {
		return fmt.Errorf("--size %q: at most 64MiB", *size)
	}
	if *count < 1 {
		return fmt.Errorf("--count %d: give the number of paths, at least 1", *count)
	}
	res, err := loadtest.FileCache(loadtest.FileCacheConfig{Dir: *dir, Count: *count, Size: int(n), Seed: *seed})
	if err != nil {
		return err
	}
	if *pathsFile != "" {
		if err := os.WriteFile(*pathsFile, []byte(strings.Join(res.StorePaths, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return report(*asJSON, res, res.WriteTable)
}

func runGeoIP(_ context.Context, args []string) error {
	f := newFlags("loadtest geoip", "Writes a GeoIP City database (MaxMind's format) for `narthex edge --geoip-db` that places\n127.1.0.0/16 in Frankfurt and 127.2.0.0/16 in Singapore, loopback ranges a real database\nnever holds: a load generator connecting from 127.1.0.1 (lookup --source) is a client in\nEurope.")
	out := f.String("out", "", "file to write (required)")
	if err := f.parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	return loadtest.WriteGeoIP(*out)
}

func runLookup(ctx context.Context, args []string) error {
	f := newFlags("loadtest lookup", "Sends narinfo GETs to each --url in turn with the same settings: hits for the --keys\npaths populate made with --seed, misses for hashes nobody makes. A hit not answered 200\nor a miss not answered 404 is an error. --rate 0 is a closed loop (maximum throughput);\n--rate R sends R requests/s on a fixed timeline, latency counted from each intended send.")
	urls := f.String("url", "", "comma-separated base URLs, http:// or https:// on loopback, each with an optional path prefix (required)")
	caFile := f.String("ca-file", "", "PEM roots to trust for https:// URLs (default the system's); each connection's\nhandshake is done before the run, unless --new-connections")
	keys := f.Int("keys", 0, "number of paths populate created (required)")
	seed := f.Int64("seed", 1, "seed populate used")
	hitRatio := floatFlag(f, "hit-ratio", 0.5, "share of requests for existing paths, 0 to 1")
	dist := f.String("dist", string(loadtest.DistUniform), "key distribution: uniform or zipf")
	zipfS := floatFlag(f, "zipf-exponent", loadtest.DefaultZipfExponent, "exponent s of the zipf distribution, above 1")
	conns := f.Int("connections", 64, "keep-alive connections, one request in flight on each")
	duration := f.Duration("duration", 10*time.Second, "length of each URL's run (at most 1h)")
	requests := f.Int64("requests", 0, "most requests per URL (0: as many as the duration allows)")
	rate := floatFlag(f, "rate", 0, "requests per second in total on a fixed timeline (0: closed loop)")
	timeout := f.Duration("timeout", loadtest.DefaultRequestTimeout, "how long past the run's end an answer may take")
	pids := f.String("server-pid", "", "comma-separated process ids, one per --url (0: none), whose CPU time per answer is reported,\nwith their descendants' (nginx: give the master's)")
	nar := f.Bool("nar", false, "ask for NAR files (/nar/<hash>.nar, recorded by loadtest locations) instead of narinfos:\na hit wants a 302, a miss a 404")
	wantLoc := f.String("want-location", "", "with --nar, how every redirect's Location must start (the nearest store's base URL)")
	source := f.String("source", "", "loopback address to connect from, e.g. 127.1.0.1 (which loadtest geoip places in Frankfurt)")
	newConns := f.Bool("new-connections", false, "send every request on a new connection (\"Connection: close\"), the handshake in its latency:\nover https:// a full TLS handshake each, no session resumed; --connections is then how many at once")
	asJSON := f.Bool("json", false, "print one JSON object instead of tables")
	if err := f.parse(args); err != nil {
		return err
	}
	serverPIDs, err := pidList(*pids)
	if err != nil {
		return err
	}
	if *wantLoc != "" && !*nar {
		return errors.New("--want-location is for --nar only")
	}
	if *source != "" {
		if a, err := netip.ParseAddr(*source); err != nil || !a.IsLoopback() {
			return fmt.Errorf("--source %q is not a loopback address", *source)
		}
	}
	roots, err := readRoots("ca-file", *caFile)
	if err != nil {
		return err
	}
	results, err := loadtest.Lookup(ctx, loadtest.LookupConfig{
		URLs: list(*urls), Keys: *keys, Seed: *seed, HitRatio: *hitRatio, Dist: loadtest.Dist(*dist), ZipfExponent: *zipfS,
		Connections: *conns, Duration: *duration, Requests: *requests, Rate: *rate, Timeout: *timeout, ServerPIDs: serverPIDs,
		NAR: *nar, WantLocation: *wantLoc, Source: *source, TLSRoots: roots, NewConnections: *newConns,
	})
	if len(results) > 0 {
		table := func(w io.Writer) error { return loadtest.WriteLookupTables(w, results) }
		if rerr := report(*asJSON, map[string]any{"results": results}, table); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

func runWrk(ctx context.Context, args []string) error {
	f := newFlags("loadtest wrk", "Runs wrk (-t --threads -c --connections -d --duration) against each --url in turn with a\nlist of request paths drawn as lookup draws its keys (--keys, --seed, --hit-ratio, --dist).\nwrk does not tell which answers were right: non-2xx answers are counted and compared with\nthe share of misses in the list. With --server-pid, reports each server's CPU time per answer.")
	urls := f.String("url", "", "comma-separated base URLs, http:// or https:// (wrk checks no certificate) on loopback, without a\npath prefix (required)")
	keys := f.Int("keys", 0, "number of paths populate created (required)")
	seed := f.Int64("seed", 1, "seed populate used")
	hitRatio := floatFlag(f, "hit-ratio", 0.5, "share of requests for existing paths, 0 to 1")
	dist := f.String("dist", string(loadtest.DistUniform), "key distribution: uniform or zipf")
	conns := f.Int("connections", 64, "wrk's -c")
	threads := f.Int("threads", 1, "wrk's -t")
	duration := f.Duration("duration", 10*time.Second, "wrk's -d, whole seconds (at most 1h)")
	exe := f.String("wrk", "wrk", "the wrk executable")
	pids := f.String("server-pid", "", "comma-separated process ids, one per --url (0: none), whose CPU time per answer is reported,\nwith their descendants' (nginx: give the master's)")
	nar := f.Bool("nar", false, "ask for NAR files (/nar/<hash>.nar) instead of narinfos; wrk counts a 302 as right")
	header := f.String("header", "", "a header added to every request, \"Name: value\" (wrk's -H), e.g. \"X-Forwarded-For: 127.1.0.1\"\nto a server trusting 127.0.0.1 as a proxy, since wrk cannot choose its source address")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	serverPIDs, err := pidList(*pids)
	if err != nil {
		return err
	}
	var headers []string
	if *header != "" {
		if name, _, ok := strings.Cut(*header, ":"); !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("--header %q: want \"Name: value\"", *header)
		}
		headers = []string{*header}
	}
	results, err := loadtest.Wrk(ctx, loadtest.WrkConfig{
		URLs: list(*urls), ServerPIDs: serverPIDs, Keys: *keys, Seed: *seed, HitRatio: *hitRatio, Dist: loadtest.Dist(*dist),
		Connections: *conns, Threads: *threads, Duration: *duration, Executable: *exe, NAR: *nar, Headers: headers,
	})
	if len(results) > 0 {
		table := func(w io.Writer) error { return loadtest.WriteWrkTable(w, results) }
		if rerr := report(*asJSON, map[string]any{"results": results}, table); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

func runReport(_ context.Context, args []string) error {
	f := newFlags("loadtest report", "Writes BENCHMARKS.md from the results folder of loadtest/bench.sh: facts.json,\nlookups.jsonl and the JSON it names, commands.txt, and when the run went past the lookups\nlater.json with the raw results of the later sections (the load tools' --json, timings,\nmemory.jsonl, profiles, logs). Every median, ratio and verdict is computed here. Sections\nthe run did not make are carried over from the file being replaced, marked with the date\nof their run.")
	results := f.String("results", "", "results folder of a bench.sh run (required)")
	out := f.String("out", "BENCHMARKS.md", "file to write; its sections the run did not make are kept")
	halfMax := f.String("half-max", "", "instead of writing the file, print half the median closed-loop throughput of the\nlookup runs so far for SET,SCENARIO,SERVER (the open loop's rate), e.g. uniform,hits,edge")
	if err := f.parse(args); err != nil {
		return err
	}
	if *results == "" {
		return errors.New("--results is required")
	}
	if *halfMax != "" {
		p := strings.Split(*halfMax, ",")
		if len(p) != 3 {
			return fmt.Errorf("--half-max %q: want SET,SCENARIO,SERVER", *halfMax)
		}
		v, err := loadtest.HalfMax(*results, p[0], p[1], p[2])
		if err != nil {
			return err
		}
		fmt.Printf("%d\n", int64(v))
		return nil
	}
	r, err := loadtest.ReadBenchResults(*results)
	if err != nil {
		return err
	}
	previous, err := os.ReadFile(*out)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var b bytes.Buffer
	if err := loadtest.WriteBenchmarks(&b, r, previous); err != nil {
		return err
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

// pidList parses --server-pid.
func pidList(s string) ([]int, error) {
	var pids []int
	for _, p := range list(s) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("--server-pid: %w", err)
		}
		pids = append(pids, n)
	}
	return pids, nil
}

func runCeiling(ctx context.Context, args []string) error {
	f := newFlags("loadtest ceiling", "Serves every request with the same narinfo-sized body (200, text/x-nix-narinfo, the\nedge's hit headers): the upper bound of any fasthttp handler configured as the edge's on\nthis machine. With --miss, answers every request as the edge answers a miss (404, its\nheaders and body): the same bound for misses. With --sink, serves as an empty\ncache that takes every upload and keeps nothing (PUT 200, other GET/HEAD 404 but\nnix-cache-info): the same bound for uploads. Runs until SIGINT/SIGTERM or --duration,\nthen prints how many requests it served.")
	listen := f.String("listen", "127.0.0.1:8090", "loopback address to serve HTTP on")
	sink := f.Bool("sink", false, "take uploads instead of answering lookups")
	miss := f.Bool("miss", false, "answer every request 404 as the edge answers a miss")
	redirect := f.String("redirect", "", "answer every request 302 to this URL as the edge redirects a NAR download (give the\nLocation the edge sends, for answers of the same size)")
	duration := f.Duration("duration", 0, "stop after this long (0: at SIGINT/SIGTERM; at most 1h)")
	certFile := f.String("tls-cert-file", "", "PEM certificate to serve HTTPS with instead of HTTP, as an edge's --https-listen does")
	keyFile := f.String("tls-key-file", "", "PEM private key of --tls-cert-file")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	if *redirect != "" && (*sink || *miss) {
		return errors.New("--redirect excludes --sink and --miss")
	}
	ccfg := loadtest.CeilingConfig{Listen: *listen, Duration: *duration, Sink: *sink, Miss: *miss, Redirect: *redirect}
	scheme := "http"
	if *certFile != "" || *keyFile != "" {
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("--tls-cert-file, --tls-key-file: %w", err)
		}
		// As the edge's HTTPS: HTTP/1.1, TLS 1.2 or later.
		ccfg.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	c, err := loadtest.NewCeiling(ccfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ceiling listening on %s://%s\n", scheme, c.Addr())
	res, err := c.Run(ctx)
	if err != nil {
		return err
	}
	return report(*asJSON, res, res.WriteTable)
}

func runLag(ctx context.Context, args []string) error {
	f := newFlags("loadtest lag", "Commits one path per transaction at the origin on a fixed schedule, over --connections\nconnections, and measures, for each edge (over HTTP) and an optional native subscriber\n(over SQL), the time from each commit's acknowledgement to the first probe that finds it.\nA target is probed at most once per --probe-interval, so a lag is overstated by up to\nabout two intervals and a probe's round trip. The paths stay in the cache.")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database (loopback)")
	edges := f.String("edge", "", "comma-separated edge base URLs, http:// on loopback")
	subURL := f.String("subscriber-url", "", "connection string of a database subscribing to the narthex publication (loopback)")
	subURLFile := f.String("subscriber-url-file", "", "file holding the subscriber's connection string")
	rate := floatFlag(f, "rate", 1000, "commits per second")
	conns := f.Int("connections", loadtest.DefaultCommitConnections, "connections committing, one transaction in flight on each (at most 64)")
	probeInterval := f.Duration("probe-interval", loadtest.DefaultProbeInterval, "least time between two probes of a target (at most 1s)")
	duration := f.Duration("duration", 10*time.Second, "length of the schedule (at most 1h)")
	commits := f.Int64("commits", 0, "most commits (0: rate × duration; at most 1000000)")
	grace := f.Duration("grace", loadtest.DefaultLagGrace, "how long after the last commit targets may take to show it")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	sub := *subURL
	if *subURLFile != "" {
		if sub, err = readSecret("subscriber-url-file", *subURLFile); err != nil {
			return err
		}
	}
	res, err := loadtest.Lag(ctx, loadtest.LagConfig{
		DatabaseURL: url, Edges: list(*edges), SubscriberURL: sub, Rate: *rate, Connections: *conns, ProbeInterval: *probeInterval,
		Duration: *duration, Commits: *commits, Grace: *grace,
	})
	if err != nil {
		return err
	}
	return report(*asJSON, res, res.WriteTable)
}

func runBootstrap(ctx context.Context, args []string) error {
	f := newFlags("loadtest bootstrap", "Starts `narthex edge` on an empty replica and a free loopback port, times it until\n/readyz answers 200, reports its memory (VmRSS, VmHWM) and replica size, then stops it\nand drops its replication slot.")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database, as a role with REPLICATION (loopback)")
	name := f.String("edge-name", loadtest.DefaultBootstrapEdge, "name of the temporary edge; no other edge may have it")
	dir := f.String("dir", "", "folder for the temporary replica (default: the system's temporary folder)")
	timeout := f.Duration("timeout", loadtest.DefaultBootstrapTimeout, "longest wait for the edge to be ready")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	res, err := loadtest.Bootstrap(ctx, loadtest.BootstrapConfig{DatabaseURL: url, EdgeName: *name, Dir: *dir, Timeout: *timeout})
	if err != nil {
		return err
	}
	return report(*asJSON, res, res.WriteTable)
}

func runIngest(ctx context.Context, args []string) error {
	f := newFlags("loadtest ingest", "Uploads synthetic paths through the origin's PUT API: for each, a NAR file of random\nbytes, then a narinfo listing it. Any answer but 2xx is an error. The paths stay in the cache.")
	url := f.String("url", "", "origin base URL, http:// on loopback (required)")
	tokenFile := f.String("token-file", "", "file holding an upload token (required)")
	count := f.Int("count", loadtest.DefaultIngestCount, "number of uploads")
	narSize := f.Int("nar-size", loadtest.DefaultNarSize, "bytes per NAR file")
	concurrency := f.Int("concurrency", 4, "uploads in flight")
	duration := f.Duration("duration", 10*time.Minute, "longest run (at most 1h)")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	if *tokenFile == "" {
		return errors.New("--token-file is required")
	}
	token, err := readSecret("token-file", *tokenFile)
	if err != nil {
		return err
	}
	res, err := loadtest.Ingest(ctx, loadtest.IngestConfig{
		URL: *url, Token: token, Count: *count, NarSize: *narSize, Concurrency: *concurrency, Duration: *duration,
	})
	if err != nil {
		return err
	}
	return report(*asJSON, res, res.WriteTable)
}

func runSoak(ctx context.Context, args []string) error {
	f := newFlags("loadtest soak", `Starts two edges of the origin on free loopback ports (a survivor and a victim),
starts committing transactions of 1 to 4 new paths at --commit-rate, measures the
survivor's maximum mixed lookup throughput under them (closed loop, --measure), then for
--duration sends it lookups at --lookup-share of that maximum (open loop) while the commits
go on, and SIGKILLs the victim every --kill-every and
restarts it on its replica. Fails (exit status 1, one line saying why) unless every lookup
of the survivor was answered right, both edges show every path of every committed
transaction within --grace, no transaction was seen half applied, the survivor's RSS in
the last minute is within 10% (or 16 MiB) of the minute after warm-up, and no restart
needed a new bootstrap. The edges' slots are dropped at the end; the paths stay.`)
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database, as a role with REPLICATION (loopback)")
	keys := f.Int("keys", 0, "number of paths populate created with --seed, asked as hits (required)")
	seed := f.Int64("seed", 1, "seed populate used")
	hitRatio := floatFlag(f, "hit-ratio", 0.5, "share of lookups for existing paths, above 0, at most 1")
	duration := f.Duration("duration", loadtest.DefaultSoakDuration, "length of the soak (at most 1h)")
	commitRate := floatFlag(f, "commit-rate", loadtest.DefaultSoakCommitRate, "transactions per second at the origin")
	commitConns := f.Int("commit-connections", loadtest.DefaultCommitConnections, "connections committing, one transaction in flight on each")
	killEvery := f.Duration("kill-every", loadtest.DefaultKillEvery, "period of the victim's SIGKILL and restart (at most --duration)")
	share := floatFlag(f, "lookup-share", loadtest.DefaultLookupShare, "share of the survivor's maximum lookup throughput sent during the soak")
	lookupConns := f.Int("connections", 64, "keep-alive connections carrying the lookups")
	measure := f.Duration("measure", loadtest.DefaultSoakMeasure, "length of the maximum's measurement (at most 1m)")
	memEvery := f.Duration("memory-every", 0, "period of the survivor's RSS samples (0: duration/50, 10ms to 5s)")
	grace := f.Duration("grace", loadtest.DefaultSoakGrace, "how long after the soak the edges may take to show every committed path")
	readyTimeout := f.Duration("ready-timeout", loadtest.DefaultSoakReadyTimeout, "longest wait for an edge to be ready, at the start and after each restart")
	name := f.String("edge-name", loadtest.DefaultSoakEdge, "prefix of the edges' names (<prefix>_survivor, <prefix>_victim)")
	dir := f.String("dir", "", "folder for the run's replicas and edge logs, removed afterwards but for a failed run's logs (default: the system's temporary folder)")
	exe := f.String("edge-binary", "", "narthex binary to run the edges with (default: this one)")
	asJSON := f.Bool("json", false, "print one JSON object instead of tables")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	res, err := loadtest.Soak(ctx, loadtest.SoakConfig{
		DatabaseURL: url, Keys: *keys, Seed: *seed, HitRatio: *hitRatio, Duration: *duration,
		CommitRate: *commitRate, CommitConnections: *commitConns, KillEvery: *killEvery,
		LookupShare: *share, LookupConnections: *lookupConns, MeasureFor: *measure, MemoryEvery: *memEvery,
		Grace: *grace, ReadyTimeout: *readyTimeout, EdgeName: *name, Dir: *dir, Executable: *exe,
	})
	return reportPartial(*asJSON, res, err)
}

func runDashboardBench(ctx context.Context, args []string) error {
	f := newFlags("loadtest dashboard", "Migrates an empty database to the schema before the dashboard's roll-ups, fills it with\n--days of fetch counts for --paths paths, --edges edges and --countries countries, migrates\nit to the newest schema (timing the roll-ups' build), and times each query behind the\ndashboard's panels --runs times after a first run.")
	dbURL := f.databaseURL("PostgreSQL connection string of an empty database (loopback)")
	paths := f.Int("paths", loadtest.DefaultDashboardPaths, "number of paths")
	days := f.Int("days", loadtest.DefaultDashboardDays, "days of counts, up to today")
	edges := f.Int("edges", loadtest.DefaultDashboardEdges, "number of edges")
	countries := f.Int("countries", loadtest.DefaultDashboardCountries, "number of client countries")
	hits := f.Int("hit-draws", loadtest.DefaultDashboardHitDraws, "paths drawn for hits each day (popular ones more often)")
	misses := f.Int("miss-draws", loadtest.DefaultDashboardMissDraws, "hashes drawn for misses each day")
	redirects := f.Int("redirect-draws", loadtest.DefaultDashboardRedirectDraws, "NAR files drawn for redirects each day")
	share := floatFlag(f, "fetched-share", loadtest.DefaultDashboardFetchedShare, "share of the paths hits and redirects draw from; the rest are never fetched")
	runs := f.Int("runs", loadtest.DefaultDashboardRuns, "timed runs of each query")
	timeout := f.Duration("timeout", loadtest.MaxDuration, "longest run")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	res, err := loadtest.Dashboard(ctx, loadtest.DashboardConfig{
		DatabaseURL: url, Paths: *paths, Days: *days, Edges: *edges, Countries: *countries,
		HitDraws: *hits, MissDraws: *misses, RedirectDraws: *redirects, FetchedShare: *share,
		Runs: *runs, Timeout: *timeout,
	})
	if err != nil {
		return err
	}
	return report(*asJSON, res, res.WriteTable)
}

func runGCBench(ctx context.Context, args []string) error {
	f := newFlags("loadtest gc", "Migrates an empty database and fills it with a reference graph of --paths store paths\n(about 5 references each: bottom dependencies most paths share, package builds chained\non their previous build, deep chains), half of them garbage, reachable from --roots\nroots; checks the fill with SQL, and times each way to mark it --runs times.")
	dbURL := f.databaseURL("PostgreSQL connection string of an empty database (loopback)")
	paths := f.Int("paths", loadtest.DefaultGCPaths, "number of store paths, half of them garbage")
	roots := f.Int("roots", loadtest.DefaultGCRoots, "number of unexpired roots")
	seed := f.Int64("seed", loadtest.DefaultGCSeed, "seed of the graph and the paths")
	storeURL := f.String("store-url", loadtest.DefaultGCStoreURL, "download base URL of the local store the NAR files are recorded in")
	grace := f.Duration("grace", loadtest.DefaultGCGrace, "the mark keeps paths uploaded or told present within this")
	fetched := f.Int("keep-fetched-days", loadtest.DefaultGCKeepFetchedDays, "the mark keeps paths fetched within this many days (0: none)")
	runs := f.Int("runs", loadtest.DefaultGCRuns, "timed runs of each way to mark")
	markTimeout := f.Duration("mark-timeout", loadtest.DefaultMarkTimeout, "longest run of a way to mark; a slower way is reported with its plan")
	markOnly := f.Bool("mark-only", false, "the database holds the graph of these --paths, --roots and --seed already: check and mark it only")
	timeout := f.Duration("timeout", loadtest.MaxDuration, "longest run")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	res, err := loadtest.GC(ctx, loadtest.GCConfig{
		DatabaseURL: url, Paths: *paths, Roots: *roots, Seed: *seed, StoreURL: *storeURL,
		Grace: *grace, KeepFetchedDays: *fetched, MarkOnly: *markOnly, Runs: *runs, MarkTimeout: *markTimeout, Timeout: *timeout,
	})
	return reportPartial(*asJSON, res, err)
}

func runGCRun(ctx context.Context, args []string) error {
	f := newFlags("loadtest gcrun", "Runs uploads (a NAR file and a narinfo referencing live paths and, now and then, a\ngarbage one) against the origin and narinfo lookups (live paths and misses) against the\nedge of a database `loadtest gc` filled, for --baseline; then the same load while\n`narthex gc --json` collects the database; then checks the database with SQL.")
	dbURL := f.databaseURL("PostgreSQL connection string of the database loadtest gc filled (loopback)")
	origin := f.String("origin-url", "", "origin base URL on that database, http:// on loopback (required)")
	tokenFile := f.String("token-file", "", "file holding an upload token of the origin (required)")
	edge := f.String("edge-url", "", "edge base URL on that database, http:// on loopback (required)")
	paths := f.Int("paths", loadtest.DefaultGCPaths, "--paths of the loadtest gc run")
	roots := f.Int("roots", loadtest.DefaultGCRoots, "--roots of the loadtest gc run")
	seed := f.Int64("seed", loadtest.DefaultGCSeed, "--seed of the loadtest gc run")
	gcArgs := f.String("gc-args", "", "flags of narthex gc beyond --json, space-separated (the database comes in its environment)")
	uploaders := f.Int("uploaders", loadtest.DefaultGCRunUploaders, "uploads in flight at most")
	uploadRate := floatFlag(f, "upload-rate", loadtest.DefaultGCRunUploadRate, "uploads per second")
	narSize := f.Int("nar-size", loadtest.DefaultGCRunNarSize, "bytes per NAR file")
	garbage := floatFlag(f, "garbage-share", loadtest.DefaultGCRunGarbageShare, "share of the uploads that also reference a garbage path")
	lookupRate := floatFlag(f, "lookup-rate", loadtest.DefaultGCRunLookupRate, "narinfo lookups per second")
	conns := f.Int("lookup-connections", loadtest.DefaultGCRunConnections, "connections of the lookups")
	hitRatio := floatFlag(f, "hit-ratio", loadtest.DefaultGCRunHitRatio, "share of the lookups for live paths")
	baseline := f.Duration("baseline", loadtest.DefaultGCRunBaseline, "how long the load runs before the collection")
	timeout := f.Duration("timeout", loadtest.DefaultGCRunTimeout, "longest collection")
	asJSON := f.Bool("json", false, "print one JSON object instead of a table")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	if *tokenFile == "" {
		return errors.New("--token-file is required")
	}
	token, err := readSecret("token-file", *tokenFile)
	if err != nil {
		return err
	}
	res, err := loadtest.GCRun(ctx, loadtest.GCRunConfig{
		DatabaseURL: url, OriginURL: *origin, Token: token, EdgeURL: *edge,
		Paths: *paths, Roots: *roots, Seed: *seed, GCArgs: strings.Fields(*gcArgs),
		Uploaders: *uploaders, UploadRate: *uploadRate, NarSize: *narSize, GarbageShare: *garbage,
		LookupRate: *lookupRate, LookupConnections: *conns, HitRatio: *hitRatio,
		Baseline: *baseline, Timeout: *timeout,
	})
	return reportPartial(*asJSON, res, err)
}

// readRoots reads a PEM file of roots given by --flagName; nil for none.
func readRoots(flagName, path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--%s %s: no PEM certificate in it", flagName, path)
	}
	return pool, nil
}
