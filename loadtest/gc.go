package loadtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/narthex-cache/narthex/sql"
)

// GCConfig says how big a cache to collect, and where, before timing the
// ways to mark it.
type GCConfig struct {
	// DatabaseURL is an empty database on loopback: the run migrates it
	// and fills it. Required.
	DatabaseURL string `json:"-"`
	// Paths is the number of store paths, half of them garbage.
	Paths int `json:"paths"`
	// Roots is the number of unexpired roots; a tenth as many expired
	// ones pin garbage.
	Roots int `json:"roots"`
	// Seed chooses the graph and the paths.
	Seed int64 `json:"seed"`
	// StoreURL is the base URL of the local store every NAR file is
	// recorded in (an origin started on the database takes the store over
	// and sets its own). The store's directory may be empty: the paths
	// are metadata only.
	StoreURL string `json:"store_url"`
	// Grace and KeepFetchedDays are the mark's seeds beside the roots:
	// paths uploaded or told present within Grace, and paths fetched
	// within KeepFetchedDays (0: none).
	Grace           time.Duration `json:"grace_ns"`
	KeepFetchedDays int           `json:"keep_fetched_days"`
	// MarkOnly takes a database an earlier run filled with the graph of
	// the same Paths, Roots and Seed, and checks and marks it only.
	MarkOnly bool `json:"mark_only"`
	// Runs is how many times each way to mark is timed; MarkTimeout
	// bounds each run (default DefaultMarkTimeout).
	Runs        int           `json:"runs"`
	MarkTimeout time.Duration `json:"mark_timeout_ns"`
	// Timeout bounds the whole run.
	Timeout time.Duration `json:"timeout_ns"`
}

// The sizes of the benchmark unless told otherwise: a million paths, five
// million references, two thousand roots.
const (
	DefaultGCPaths           = 1_000_000
	DefaultGCRoots           = 2000
	DefaultGCSeed            = 1
	DefaultGCStoreURL        = "http://127.0.0.1/"
	DefaultGCGrace           = 24 * time.Hour
	DefaultGCKeepFetchedDays = 7
	DefaultGCRuns            = 3
)

// gcAge is how long before the run the graph's first path was uploaded;
// the last was uploaded a month before the run, past any grace.
const gcAge = 90 * 24 * time.Hour

func (c *GCConfig) setDefaults() {
	orDefault(&c.Paths, DefaultGCPaths)
	orDefault(&c.Roots, DefaultGCRoots)
	orDefault(&c.Seed, DefaultGCSeed)
	orDefault(&c.StoreURL, DefaultGCStoreURL)
	orDefault(&c.Grace, DefaultGCGrace)
	orDefault(&c.Runs, DefaultGCRuns)
	orDefault(&c.MarkTimeout, DefaultMarkTimeout)
	orDefault(&c.Timeout, MaxDuration)
}

// orDefault sets *v to d when *v is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Validate names the first unusable field.
func (c GCConfig) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("gc: DatabaseURL is empty")
	case c.Paths < 1000 || c.Paths > MaxPopulateCount:
		return fmt.Errorf("gc: Paths %d is outside 1000-%d", c.Paths, MaxPopulateCount)
	case c.Roots < 1 || c.Roots > c.Paths/10:
		return fmt.Errorf("gc: Roots %d is outside 1-%d (a tenth of Paths)", c.Roots, c.Paths/10)
	case c.Grace < 0 || c.Grace > 30*24*time.Hour:
		return fmt.Errorf("gc: Grace %v is outside 0-720h", c.Grace)
	case c.KeepFetchedDays < 0 || c.KeepFetchedDays > 30:
		return fmt.Errorf("gc: KeepFetchedDays %d is outside 0-30", c.KeepFetchedDays)
	case c.Runs < 1 || c.Runs > 100:
		return fmt.Errorf("gc: Runs %d is outside 1-100", c.Runs)
	case c.MarkTimeout <= 0 || c.MarkTimeout > MaxDuration:
		return fmt.Errorf("gc: MarkTimeout %v is outside (0, %v]", c.MarkTimeout, MaxDuration)
	case c.Timeout < 0 || c.Timeout > MaxDuration:
		return fmt.Errorf("gc: Timeout %v is outside (0, %v]", c.Timeout, MaxDuration)
	}
	if _, err := CheckURL(c.StoreURL); err != nil {
		return err
	}
	return CheckDatabaseURL(c.DatabaseURL)
}

// GCResult is the graph the run wrote, what the database says of it, and
// how long each way to mark it took.
type GCResult struct {
	Config GCConfig     `json:"config"`
	Graph  GCGraphStats `json:"graph"`
	// Rows counts the rows of each table once filled.
	Rows map[string]int64 `json:"rows"`
	// Reachable is what a recursive query from the unexpired roots reaches:
	// the graph's live paths, when the fill is right.
	Reachable     int64         `json:"reachable"`
	DatabaseBytes int64         `json:"database_bytes"`
	Fill          time.Duration `json:"fill_ns"`
	Marks         []GCMark      `json:"marks"`
}

// GCGraphStats is the shape of the graph.
type GCGraphStats struct {
	Paths      int `json:"paths"`
	References int `json:"references"`
	Live       int `json:"live"`
	Garbage    int `json:"garbage"`
	// GarbageOnLive counts the garbage paths that reference a live one.
	GarbageOnLive int `json:"garbage_on_live"`
	// LibcReferrers counts the paths that reference the bottom path.
	LibcReferrers int `json:"libc_referrers"`
	// Depth is the levels of a breadth-first walk from the roots.
	Depth        int `json:"depth"`
	Roots        int `json:"roots"`
	ExpiredRoots int `json:"expired_roots"`
	RootPaths    int `json:"root_paths"`
}

func (g *gcGraph) stats() GCGraphStats {
	s := GCGraphStats{Paths: g.Paths(), References: g.References(), Live: g.Live, Garbage: g.Paths() - g.Live, Depth: g.Depth}
	for i := range g.Paths() {
		onLive := false
		for _, j := range g.refs(i) {
			onLive = onLive || g.live[j]
			if j == 0 {
				s.LibcReferrers++
			}
		}
		if !g.live[i] && onLive {
			s.GarbageOnLive++
		}
	}
	for _, r := range g.roots {
		if r.expired {
			s.ExpiredRoots++
		} else {
			s.Roots++
		}
		s.RootPaths += len(r.paths)
	}
	return s
}

// GC fills the empty database of cfg with a graph of cfg.Paths paths,
// checks it with SQL, and times each way to mark it.
func GC(ctx context.Context, cfg GCConfig) (*GCResult, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res := &GCResult{Config: cfg, Rows: map[string]int64{}}
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	defer conn.Close(context.Background())
	var tables int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'narinfo'").Scan(&tables); err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	if tables != 0 && !cfg.MarkOnly {
		return nil, errors.New("gc: the database is not empty; give it a new one")
	}
	g, err := newGCGraph(cfg.Paths, cfg.Roots, cfg.Seed)
	if err != nil {
		return nil, err
	}
	res.Graph = g.stats()
	if !cfg.MarkOnly {
		if err := sql.Migrate(ctx, conn); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := fillGC(ctx, conn, cfg, g, time.Now()); err != nil {
			return nil, err
		}
		res.Fill = time.Since(start)
	}
	if err := checkGC(ctx, conn, res); err != nil {
		return nil, err
	}
	res.Marks, err = compareMarks(ctx, cfg.DatabaseURL, markSeeds{grace: cfg.Grace, fetchedDays: cfg.KeepFetchedDays}, cfg.Runs, cfg.MarkTimeout)
	return res, err
}

// fillGC writes the paths of g, uploaded one after another from gcAge
// before now to a month before now, with a NAR file each in the local
// store, and then its roots, the paths fetched and told present, and the
// statistics of every table.
func fillGC(ctx context.Context, conn *pgx.Conn, cfg GCConfig, g *gcGraph, now time.Time) error {
	first := now.Add(-gcAge)
	step := (gcAge - 30*24*time.Hour) / time.Duration(g.Paths())
	created := func(i int) time.Time { return first.Add(time.Duration(i) * step) }
	w, err := openChunkWriter(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	defer w.close()
	w.createdAt = created
	synth := NewSynth(cfg.Seed, 0)
	synth.graph = g.intRefs
	if _, err := w.writeAll(ctx, synth, g.Paths(), DefaultChunkSize, runtime.GOMAXPROCS(0), nil); err != nil {
		return fmt.Errorf("gc: fill paths: %w", err)
	}
	if _, err := conn.Exec(ctx, qGCStore, cfg.StoreURL); err != nil {
		return fmt.Errorf("gc: register the local store: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6766))
	err = w.tx(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, qGCLocations); err != nil {
			return fmt.Errorf("locations: %w", err)
		}
		if err := copyGCRoots(ctx, tx, g, synth, now); err != nil {
			return err
		}
		return copyGCUses(ctx, tx, g, synth, rng, created, now)
	})
	if err != nil {
		return fmt.Errorf("gc: fill: %w", err)
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("gc: vacuum: %w", err)
	}
	return nil
}

// copyGCRoots writes the roots of g and the paths they pin.
func copyGCRoots(ctx context.Context, tx pgx.Tx, g *gcGraph, synth *Synth, now time.Time) error {
	roots, pins := TableCopy{Table: "root"}, TableCopy{Table: "root_path"}
	err := copyRows(ctx, tx, &roots, []string{"name", "expires_at", "created_at", "updated_at"}, len(g.roots), func(i int) []any {
		r := g.roots[i]
		var expires *time.Time
		switch {
		case r.expired:
			e := now.Add(-24 * time.Hour)
			expires = &e
		case r.expiring:
			e := now.Add(30 * 24 * time.Hour)
			expires = &e
		}
		made := now.Add(-40 * 24 * time.Hour)
		return []any{r.name, expires, made, made}
	})
	if err != nil {
		return err
	}
	type pin struct {
		root string
		path int32
	}
	var all []pin
	for _, r := range g.roots {
		for _, p := range r.paths {
			all = append(all, pin{r.name, p})
		}
	}
	return copyRows(ctx, tx, &pins, []string{"root", "narinfo_hash"}, len(all), func(i int) []any {
		return []any{all[i].root, synth.Hash(int(all[i].path))}
	})
}

// copyGCUses writes when paths were last fetched and told present: a
// tenth of the live paths fetched within the last week, a tenth of the
// garbage an hour after its upload, months ago, but never a link of a
// deep chain (bootstrap stages nobody downloads); one path in 2,000 told
// present, live ones within the last hour, garbage ones long ago. The
// paths never fetched are listed in path_unfetched, as its trigger would
// have.
func copyGCUses(ctx context.Context, tx pgx.Tx, g *gcGraph, synth *Synth, rng *rand.Rand, created func(int) time.Time, now time.Time) error {
	type use struct {
		path int
		at   time.Time
	}
	var fetched, told []use
	for i, live := range g.live {
		switch {
		case g.deep[i]:
		case live && rng.IntN(10) == 0:
			fetched = append(fetched, use{i, now.Add(-time.Duration(rng.Int64N(int64(7 * 24 * time.Hour))))})
		case !live && rng.IntN(10) == 0:
			fetched = append(fetched, use{i, created(i).Add(time.Hour)})
		}
		switch {
		case live && rng.IntN(2000) == 0:
			told = append(told, use{i, now.Add(-time.Duration(rng.Int64N(int64(time.Hour))))})
		case !live && rng.IntN(2000) == 0:
			told = append(told, use{i, created(i).Add(time.Hour)})
		}
	}
	for _, t := range []struct {
		table, column string
		uses          []use
	}{{"path_last_fetched", "last_fetched", fetched}, {"narinfo_told", "told_at", told}} {
		tc := TableCopy{Table: t.table}
		err := copyRows(ctx, tx, &tc, []string{"hash", t.column}, len(t.uses), func(i int) []any {
			return []any{synth.Hash(t.uses[i].path), t.uses[i].at}
		})
		if err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, qGCUnfetched); err != nil {
		return fmt.Errorf("path_unfetched: %w", err)
	}
	return nil
}

// gcTables are the tables whose rows the result counts.
var gcTables = []string{"narinfo", "reference", "nar_file", "narinfo_file", "payload_location", "root", "root_path",
	"path_last_fetched", "path_unfetched", "narinfo_told"}

// checkGC counts the rows of the filled database and what the unexpired
// roots reach, and fails when the database disagrees with the graph.
func checkGC(ctx context.Context, conn *pgx.Conn, res *GCResult) error {
	if err := checkMark.set(ctx, conn); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, table := range gcTables {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return fmt.Errorf("gc: count %s: %w", table, err)
		}
		res.Rows[table] = n
	}
	if err := conn.QueryRow(ctx, qGCReachable).Scan(&res.Reachable); err != nil {
		return fmt.Errorf("gc: reachable: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&res.DatabaseBytes); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	g := res.Graph
	want := map[string]int64{"narinfo": int64(g.Paths), "reference": int64(g.References), "payload_location": int64(g.Paths),
		"root": int64(g.Roots + g.ExpiredRoots), "root_path": int64(g.RootPaths)}
	for table, n := range want {
		if res.Rows[table] != n {
			return fmt.Errorf("gc: %s has %d rows, the graph %d", table, res.Rows[table], n)
		}
	}
	if res.Reachable != int64(g.Live) {
		return fmt.Errorf("gc: the roots reach %d paths, the graph has %d live", res.Reachable, g.Live)
	}
	return nil
}

// WriteTable writes the result as Markdown.
func (r *GCResult) WriteTable(w io.Writer) error {
	g := r.Graph
	fmt.Fprintf(w, "%d paths, %d references (%.1f per path), %d live and %d garbage (%d of it referencing live paths); "+
		"%d paths reference the bottom one; a mark walks %d levels; %d unexpired roots and %d expired ones pin %d paths.\n\n",
		g.Paths, g.References, float64(g.References)/float64(g.Paths), g.Live, g.Garbage, g.GarbageOnLive,
		g.LibcReferrers, g.Depth, g.Roots, g.ExpiredRoots, g.RootPaths)
	fmt.Fprintf(w, "Filled in %.0f s; the database is %.1f GiB; a recursive query from the unexpired roots reaches %d paths.\n\n",
		r.Fill.Seconds(), float64(r.DatabaseBytes)/(1<<30), r.Reachable)
	fmt.Fprintln(w, "| table | rows |\n|---|---|")
	for _, t := range gcTables {
		fmt.Fprintf(w, "| %s | %d |\n", t, r.Rows[t])
	}
	fmt.Fprintln(w)
	return writeMarks(w, r.Marks, r.Config.Runs, cmp.Or(r.Config.MarkTimeout, DefaultMarkTimeout))
}
