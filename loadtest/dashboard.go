package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/narthex-cache/narthex/dashboard"
	"github.com/narthex-cache/narthex/sql"
)

// DashboardConfig says how big a year of fetch counts to write, and where,
// before timing the dashboard's queries on it.
type DashboardConfig struct {
	// DatabaseURL is an empty database on loopback: the run migrates it,
	// to the schema before the dashboard's roll-ups, fills it, and then
	// migrates it to the newest, timing that. Required.
	DatabaseURL string `json:"-"`
	// Paths is the number of narinfos, uploaded evenly over Days.
	Paths int `json:"paths"`
	// Days of counts, up to today (UTC).
	Days int `json:"days"`
	// Edges and Countries: the hourly roll-up holds every hour, edge,
	// country and kind.
	Edges     int `json:"edges"`
	Countries int `json:"countries"`
	// HitDraws, MissDraws and RedirectDraws are the draws of a key each
	// day (skewed towards popular keys, so a day has fewer distinct keys
	// than draws).
	HitDraws      int `json:"hit_draws"`
	MissDraws     int `json:"miss_draws"`
	RedirectDraws int `json:"redirect_draws"`
	// FetchedShare is the share of the paths that hits and redirects ever
	// draw from; the rest are never fetched.
	FetchedShare float64 `json:"fetched_share"`
	// Runs is how many times each query is timed, after one run to warm
	// the cache.
	Runs int `json:"runs"`
	// Timeout bounds the whole run.
	Timeout time.Duration `json:"timeout_ns"`
}

// The sizes of the benchmark unless told otherwise: a year of a cache of
// a million paths served by 10 edges to 50 countries.
const (
	DefaultDashboardPaths         = 1_000_000
	DefaultDashboardDays          = 365
	DefaultDashboardEdges         = 10
	DefaultDashboardCountries     = 50
	DefaultDashboardHitDraws      = 40_000
	DefaultDashboardMissDraws     = 10_000
	DefaultDashboardRedirectDraws = 10_000
	DefaultDashboardFetchedShare  = 0.7
	DefaultDashboardRuns          = 9
)

// schemaBeforeDashboard is the last migration before the dashboard's
// roll-ups, which the run fills as an origin of that version would have.
const schemaBeforeDashboard = 6

func (c *DashboardConfig) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Paths, DefaultDashboardPaths)
	def(&c.Days, DefaultDashboardDays)
	def(&c.Edges, DefaultDashboardEdges)
	def(&c.Countries, DefaultDashboardCountries)
	def(&c.HitDraws, DefaultDashboardHitDraws)
	def(&c.MissDraws, DefaultDashboardMissDraws)
	def(&c.RedirectDraws, DefaultDashboardRedirectDraws)
	def(&c.Runs, DefaultDashboardRuns)
	if c.FetchedShare == 0 {
		c.FetchedShare = DefaultDashboardFetchedShare
	}
	if c.Timeout == 0 {
		c.Timeout = MaxDuration
	}
}

// Validate names the first unusable field.
func (c DashboardConfig) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("dashboard: DatabaseURL is empty")
	case c.Paths < 1 || c.Paths > 100_000_000:
		return fmt.Errorf("dashboard: Paths %d is outside 1-100000000", c.Paths)
	case c.Days < 1 || c.Days > 3660:
		return fmt.Errorf("dashboard: Days %d is outside 1-3660", c.Days)
	case c.Edges < 1 || c.Edges > 1000 || c.Countries < 1 || c.Countries > 676:
		return errors.New("dashboard: Edges must be 1-1000 and Countries 1-676")
	case c.HitDraws < 0 || c.MissDraws < 0 || c.RedirectDraws < 0:
		return errors.New("dashboard: draws may not be negative")
	case c.FetchedShare <= 0 || c.FetchedShare > 1:
		return fmt.Errorf("dashboard: FetchedShare %v is outside (0, 1]", c.FetchedShare)
	case c.Runs < 1 || c.Runs > 1000:
		return fmt.Errorf("dashboard: Runs %d is outside 1-1000", c.Runs)
	case c.Timeout < 0 || c.Timeout > MaxDuration:
		return fmt.Errorf("dashboard: Timeout %v is outside (0, %v]", c.Timeout, MaxDuration)
	}
	return CheckDatabaseURL(c.DatabaseURL)
}

// DashboardResult is what the run wrote and how long each query took.
type DashboardResult struct {
	Config DashboardConfig `json:"config"`
	// Rows counts the rows of each table written or built.
	Rows map[string]int64 `json:"rows"`
	// DatabaseBytes is the size of the database once filled.
	DatabaseBytes int64 `json:"database_bytes"`
	// Fill is the time to write the counts; Migrate the time the
	// dashboard's migration took to build its roll-ups from them.
	Fill    time.Duration   `json:"fill_ns"`
	Migrate time.Duration   `json:"migrate_ns"`
	Queries []DashboardTime `json:"queries"`
}

// DashboardTime is one dashboard query's times.
type DashboardTime struct {
	Query  string        `json:"query"`
	Median time.Duration `json:"median_ns"`
	Max    time.Duration `json:"max_ns"`
	Rows   int           `json:"rows"` // what it returned
}

// Dashboard fills the database of cfg with a year of fetch counts and
// times each of the dashboard's queries on it.
func Dashboard(ctx context.Context, cfg DashboardConfig) (DashboardResult, error) {
	cfg.setDefaults()
	res := DashboardResult{Config: cfg, Rows: map[string]int64{}}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return res, fmt.Errorf("dashboard: %w", err)
	}
	defer conn.Close(context.Background())
	var narinfos int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'narinfo'").Scan(&narinfos); err != nil {
		return res, fmt.Errorf("dashboard: %w", err)
	}
	if narinfos != 0 {
		return res, errors.New("dashboard: the database is not empty; give it a new one")
	}
	if err := sql.MigrateTo(ctx, conn, schemaBeforeDashboard); err != nil {
		return res, err
	}
	start := time.Now()
	if err := fillDashboard(ctx, conn, cfg); err != nil {
		return res, err
	}
	res.Fill = time.Since(start)
	start = time.Now()
	if err := sql.Migrate(ctx, conn); err != nil {
		return res, err
	}
	res.Migrate = time.Since(start)
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return res, fmt.Errorf("dashboard: vacuum: %w", err)
	}
	for _, table := range []string{"narinfo", "payload_location", "fetch_daily", "fetch_hourly", "fetch_edge_daily",
		"fetch_country_daily", "fetch_window", "path_last_fetched", "path_unfetched", "fetch_batch"} {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			return res, fmt.Errorf("dashboard: count %s: %w", table, err)
		}
		res.Rows[table] = n
	}
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&res.DatabaseBytes); err != nil {
		return res, fmt.Errorf("dashboard: %w", err)
	}
	for _, q := range dashboardQueries(time.Now()) {
		t, err := timeQuery(ctx, conn, q, cfg.Runs)
		if err != nil {
			return res, err
		}
		res.Queries = append(res.Queries, t)
	}
	return res, nil
}

// fillDashboard writes cfg's paths, edges and a year of counts as the
// roll-ups of schema version schemaBeforeDashboard hold them.
func fillDashboard(ctx context.Context, conn *pgx.Conn, cfg DashboardConfig) error {
	now := time.Now().UTC()
	last := now.Truncate(24 * time.Hour)
	first := last.AddDate(0, 0, 1-cfg.Days)
	fetched := max(1, int(float64(cfg.Paths)*cfg.FetchedShare))
	steps := []struct {
		what  string
		query string
		args  []any
	}{
		{"paths", qDashboardPaths, []any{cfg.Paths, cfg.Days, last.AddDate(0, 0, 1)}},
		{"edges", qDashboardEdges, []any{cfg.Edges}},
		{"files and stores", qDashboardFiles, nil},
		{"copies", qDashboardLocations, nil},
		{"store job", qDashboardJob, nil},
		// Exponent 3 for hits and redirects: a few paths are fetched
		// every day by many; 2 for misses, which are spread wider.
		{"hits", qDashboardDaily, []any{"hit", first, last, cfg.HitDraws, fetched, 3, 3, cfg.Paths}},
		{"misses", qDashboardDaily, []any{"miss", first, last, cfg.MissDraws, 2 * cfg.Paths, 2, 2, cfg.Paths}},
		{"redirects", qDashboardDaily, []any{"redirect", first, last, cfg.RedirectDraws, fetched, 3, 1, cfg.Paths}},
		{"clients", qDashboardClients, []any{first, last}},
		{"last fetched", qDashboardLastFetched, nil},
		{"hourly", qDashboardHourly, []any{first, last.Add(23 * time.Hour), cfg.Edges, cfg.Countries}},
		// A month of batches, one a minute: the default retention.
		{"batches", qDashboardBatches, []any{cfg.Edges, 30 * 24 * 60}},
	}
	for _, s := range steps {
		if _, err := conn.Exec(ctx, s.query, s.args...); err != nil {
			return fmt.Errorf("dashboard: fill %s: %w", s.what, err)
		}
	}
	return nil
}

// dashboardQuery is one query of the dashboard, as its page or API runs
// it; it returns how many rows it read back.
type dashboardQuery struct {
	name string
	run  func(ctx context.Context, db dashboard.DB) (int, error)
}

// dashboardQueries are every query behind the dashboard's panels, over
// the windows it offers.
func dashboardQueries(now time.Time) []dashboardQuery {
	var qs []dashboardQuery
	for _, days := range []int{30, 365} {
		w := dashboard.LastDays(now, days)
		qs = append(qs,
			dashboardQuery{fmt.Sprintf("overview, %d days, every edge", days), func(ctx context.Context, db dashboard.DB) (int, error) {
				d, err := dashboard.Overview(ctx, db, w, "")
				return len(d), err
			}},
			dashboardQuery{fmt.Sprintf("overview, %d days, one edge", days), func(ctx context.Context, db dashboard.DB) (int, error) {
				d, err := dashboard.Overview(ctx, db, w, "edge1")
				return len(d), err
			}},
			dashboardQuery{fmt.Sprintf("edges, %d days", days), func(ctx context.Context, db dashboard.DB) (int, error) {
				e, err := dashboard.Edges(ctx, db, w)
				return len(e), err
			}},
			dashboardQuery{fmt.Sprintf("countries, %d days", days), func(ctx context.Context, db dashboard.DB) (int, error) {
				c, err := dashboard.Countries(ctx, db, w)
				return len(c), err
			}},
			dashboardQuery{fmt.Sprintf("client versions, %d days", days), func(ctx context.Context, db dashboard.DB) (int, error) {
				c, err := dashboard.Clients(ctx, db, w)
				return len(c), err
			}},
		)
	}
	for _, days := range dashboard.Windows {
		for _, kind := range []dashboard.Kind{dashboard.KindHit, dashboard.KindMiss} {
			name := "top paths"
			if kind == dashboard.KindMiss {
				name = "most-missed paths"
			}
			span := fmt.Sprintf("%d days", days)
			if days == 1 {
				span = "today"
			}
			qs = append(qs, dashboardQuery{name + ", " + span, func(ctx context.Context, db dashboard.DB) (int, error) {
				k, err := dashboard.Top(ctx, db, kind, days, dashboard.DefaultTop)
				return len(k), err
			}})
		}
	}
	return append(qs,
		dashboardQuery{"paths never fetched", func(ctx context.Context, db dashboard.DB) (int, error) {
			u, err := dashboard.NeverFetched(ctx, db, dashboard.DefaultTop)
			return len(u.Oldest), err
		}},
		dashboardQuery{"stores and jobs", func(ctx context.Context, db dashboard.DB) (int, error) {
			s, err := dashboard.Stores(ctx, db)
			return len(s.Stores), err
		}},
	)
}

// timeQuery runs q once to warm the cache and then runs times.
func timeQuery(ctx context.Context, conn *pgx.Conn, q dashboardQuery, runs int) (DashboardTime, error) {
	t := DashboardTime{Query: q.name}
	var times []time.Duration
	for i := 0; i <= runs; i++ {
		start := time.Now()
		n, err := q.run(ctx, conn)
		if err != nil {
			return t, fmt.Errorf("dashboard: %s: %w", q.name, err)
		}
		if i > 0 {
			times = append(times, time.Since(start))
		}
		t.Rows = n
	}
	slices.Sort(times)
	t.Median, t.Max = times[len(times)/2], times[len(times)-1]
	return t, nil
}

// WriteTable writes the result as Markdown.
func (r DashboardResult) WriteTable(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "%d paths (%.0f%% ever fetched), %d days, %d edges, %d countries; each day %d hit, %d miss and %d redirect draws.\n\n",
		c.Paths, 100*c.FetchedShare, c.Days, c.Edges, c.Countries, c.HitDraws, c.MissDraws, c.RedirectDraws)
	fmt.Fprintf(w, "Filled in %.0f s; the dashboard's migration built its roll-ups in %.0f s; the database is %.1f GiB.\n\n",
		r.Fill.Seconds(), r.Migrate.Seconds(), float64(r.DatabaseBytes)/(1<<30))
	fmt.Fprintln(w, "| table | rows |\n|---|---|")
	for _, t := range []string{"narinfo", "payload_location", "fetch_daily", "fetch_hourly", "fetch_edge_daily", "fetch_country_daily",
		"fetch_window", "path_last_fetched", "path_unfetched", "fetch_batch"} {
		fmt.Fprintf(w, "| %s | %d |\n", t, r.Rows[t])
	}
	fmt.Fprintf(w, "\n| query | median | max of %d | rows |\n|---|---|---|---|\n", c.Runs)
	for _, q := range r.Queries {
		fmt.Fprintf(w, "| %s | %.1f ms | %.1f ms | %d |\n", q.Query,
			float64(q.Median)/1e6, float64(q.Max)/1e6, q.Rows)
	}
	return nil
}
