package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// markWay is one way to mark: a recursive query, or a breadth-first walk
// that writes each level into a mark table, with the settings its session
// runs with.
type markWay struct {
	Name     string `json:"name"`
	Walk     bool   `json:"walk"`     // breadth-first into a mark table; else one recursive query
	Unlogged bool   `json:"unlogged"` // the mark table is unlogged, not temporary
	// Analyze refreshes the mark table's statistics after the seeds and
	// whenever it has grown by half since, so that each level is planned
	// for the table's size.
	Analyze bool `json:"analyze"`
	// Settings are set for the session, before its first temporary
	// table (temp_buffers can change only until then).
	Settings []string `json:"settings"` // name=value
}

// DefaultMarkTimeout bounds one mark: a way that takes longer is
// reported as such, with its plan, not waited for.
const DefaultMarkTimeout = 2 * time.Minute

// markWays are the ways compared: each as a session of PostgreSQL's
// defaults runs it, then with what makes it faster. JIT compilation is
// one: the planner's cost of a mark over a large graph is far past
// jit_above_cost, and compiling its expressions with inlining and
// optimization takes longer than the mark. The recursive query follows
// each path's references through the index, as the collector's mark does
// (a plain join there is planned once for every level, and with many
// seeds it hashes the whole reference table again at each of hundreds of
// levels); the walk plans each level for the table as it then is.
var markWays = []markWay{
	{Name: "recursive CTE"},
	{Name: "recursive CTE", Settings: []string{"jit=off"}},
	{Name: "recursive CTE", Settings: []string{"jit=off", "work_mem=256MB"}},
	{Name: "walk, temporary table", Walk: true},
	{Name: "walk, temporary table, ANALYZE", Walk: true, Analyze: true, Settings: []string{"jit=off", "work_mem=256MB", "temp_buffers=256MB"}},
	{Name: "walk, unlogged table, ANALYZE", Walk: true, Unlogged: true, Analyze: true, Settings: []string{"jit=off", "work_mem=256MB"}},
}

// markSeeds are the mark's seeds beside the roots.
type markSeeds struct {
	grace       time.Duration
	fetchedDays int
}

// GCMark is how long one way to mark took.
type GCMark struct {
	Way markWay `json:"way"`
	// Median and Runs are of the whole mark: seeds, walk, garbage.
	Median time.Duration   `json:"median_ns"`
	Runs   []time.Duration `json:"runs_ns"`
	// Seed, Walk and Garbage split the median run.
	Seed    time.Duration `json:"seed_ns"`
	Walk    time.Duration `json:"walk_ns"`
	Garbage time.Duration `json:"garbage_ns"`
	// Seeds, Marked and Garbage count the paths.
	Seeds       int64 `json:"seeds"`
	Marked      int64 `json:"marked"` // by the walk; the recursive query counts none
	GarbageRows int64 `json:"garbage"`
	Levels      int   `json:"levels"` // the walk's
	// TimedOut tells that a run took longer than the mark timeout; the
	// way has no times then, and Plan is its plan without ANALYZE.
	TimedOut bool `json:"timed_out"`
	// Plan is EXPLAIN (ANALYZE, BUFFERS) of its dominant step, from a run
	// of its own: the recursive query, or the walk's slowest level.
	Plan     []string `json:"plan"`
	PlanStep string   `json:"plan_step"`
}

// compareMarks times each of markWays runs times, and once more with
// EXPLAIN, each way on a connection of its own to databaseURL.
func compareMarks(ctx context.Context, databaseURL string, seeds markSeeds, runs int, timeout time.Duration) ([]GCMark, error) {
	var out []GCMark
	for _, way := range markWays {
		m, err := way.compare(ctx, databaseURL, seeds, runs, timeout)
		if err != nil {
			return out, fmt.Errorf("gc: mark, %s, %s: %w", way.Name, way.settings(), err)
		}
		out = append(out, m)
	}
	return out, nil
}

// compare times the way runs times, and once more with EXPLAIN; a run
// past timeout ends the comparison of the way, with TimedOut set.
func (way markWay) compare(ctx context.Context, databaseURL string, seeds markSeeds, runs int, timeout time.Duration) (GCMark, error) {
	m := GCMark{Way: way}
	conn, err := way.connect(ctx, databaseURL)
	if err != nil {
		return m, err
	}
	defer conn.Close(context.Background())
	var all []GCMark
	for range runs {
		runCtx, cancel := context.WithTimeout(ctx, timeout)
		r, err := way.mark(runCtx, conn, seeds, false)
		timedOut := err != nil && ctx.Err() == nil && errors.Is(runCtx.Err(), context.DeadlineExceeded)
		cancel()
		if timedOut {
			m.TimedOut = true
			m.Plan, err = way.plan(ctx, databaseURL, seeds)
			m.PlanStep = "first statement over the graph, the plan it ran"
			return m, err
		}
		if err != nil {
			return m, err
		}
		all = append(all, r)
		m.Runs = append(m.Runs, r.Median)
	}
	slices.SortFunc(all, func(a, b GCMark) int { return int(a.Median - b.Median) })
	med := all[len(all)/2]
	m.Median, m.Seed, m.Walk, m.Garbage = med.Median, med.Seed, med.Walk, med.Garbage
	m.Seeds, m.Marked, m.GarbageRows, m.Levels = med.Seeds, med.Marked, med.GarbageRows, med.Levels
	r, err := way.mark(ctx, conn, seeds, true)
	if err != nil {
		return m, fmt.Errorf("explain: %w", err)
	}
	m.Plan, m.PlanStep = r.Plan, r.PlanStep
	return m, nil
}

// plan is the plan of the way's first statement over the graph (the
// recursive query, or the walk's first level), without running it: what
// a way that took too long to time was doing.
func (w markWay) plan(ctx context.Context, databaseURL string, seeds markSeeds) ([]string, error) {
	conn, err := w.connect(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, qGCMarkSeed, seeds.grace, seeds.fetchedDays); err != nil {
		return nil, fmt.Errorf("seeds: %w", err)
	}
	q, args := qGCMarkCTE, []any(nil)
	if w.Walk {
		create := qGCMarkTemp
		if w.Unlogged {
			create = qGCMarkUnlogged
		}
		for _, q := range []string{create, qGCMarkStart} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return nil, err
			}
		}
		q, args = qGCMarkStep, []any{0}
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// connect opens a session with the way's settings.
func (w markWay) connect(ctx context.Context, databaseURL string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	if err := w.set(ctx, conn); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// set gives the session of conn the way's settings.
func (w markWay) set(ctx context.Context, conn *pgx.Conn) error {
	for _, kv := range w.Settings {
		name, value, _ := strings.Cut(kv, "=")
		if _, err := conn.Exec(ctx, "SELECT set_config($1, $2, false)", name, value); err != nil {
			return err
		}
	}
	return nil
}

// settings are the way's settings as the report shows them.
func (w markWay) settings() string {
	if len(w.Settings) == 0 {
		return "defaults"
	}
	return strings.Join(w.Settings, ", ")
}

// mark runs one mark in a transaction of its own, rolled back, and
// returns its times in Median, Seed, Walk and Garbage; with explain,
// every step but the seeds runs under EXPLAIN (ANALYZE, BUFFERS) and the
// plan of the slowest is kept.
func (w markWay) mark(ctx context.Context, conn *pgx.Conn, seeds markSeeds, explain bool) (GCMark, error) {
	var m GCMark
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadWrite})
	if err != nil {
		return m, err
	}
	defer tx.Rollback(context.Background())
	var slowest time.Duration
	// step runs q, under EXPLAIN when asked, and returns the rows it
	// wrote (EXPLAIN does not tell them: count then answers).
	step := func(name, q string, count string, args ...any) (int64, error) {
		start := time.Now()
		if !explain {
			tag, err := tx.Exec(ctx, q, args...)
			return tag.RowsAffected(), err
		}
		plan, err := explainAnalyze(ctx, tx, q, args...)
		if err != nil {
			return 0, err
		}
		if d := time.Since(start); d > slowest {
			slowest, m.Plan, m.PlanStep = d, plan, name
		}
		var n int64
		err = tx.QueryRow(ctx, count, args...).Scan(&n)
		return n, err
	}
	start := time.Now()
	if m.Seeds, err = execRows(ctx, tx, qGCMarkSeed, seeds.grace, seeds.fetchedDays); err != nil {
		return m, fmt.Errorf("seeds: %w", err)
	}
	m.Seed = time.Since(start)
	walkStart := time.Now()
	if !w.Walk {
		if m.GarbageRows, err = step("recursive query", qGCMarkCTE, "SELECT count(*) FROM gc_garbage"); err != nil {
			return m, err
		}
		m.Walk = time.Since(walkStart)
		m.Median = time.Since(start)
		return m, nil
	}
	create := qGCMarkTemp
	if w.Unlogged {
		create = qGCMarkUnlogged
	}
	if _, err := tx.Exec(ctx, create); err != nil {
		return m, fmt.Errorf("mark table: %w", err)
	}
	if m.Marked, err = execRows(ctx, tx, qGCMarkStart); err != nil {
		return m, fmt.Errorf("mark seeds: %w", err)
	}
	analyzed := int64(0)
	for level := 0; ; level++ {
		if w.Analyze && m.Marked > analyzed*3/2 {
			if _, err := tx.Exec(ctx, "ANALYZE gc_mark"); err != nil {
				return m, err
			}
			analyzed = m.Marked
		}
		n, err := step(fmt.Sprintf("level %d", level+1), qGCMarkStep, "SELECT count(*) FROM gc_mark WHERE level = $1::integer + 1", level)
		if err != nil {
			return m, fmt.Errorf("level %d: %w", level+1, err)
		}
		if n == 0 {
			m.Levels = level
			break
		}
		m.Marked += n
	}
	m.Walk = time.Since(walkStart)
	garbageStart := time.Now()
	if m.GarbageRows, err = step("garbage", qGCMarkGarbage, "SELECT count(*) FROM gc_garbage"); err != nil {
		return m, fmt.Errorf("garbage: %w", err)
	}
	m.Garbage = time.Since(garbageStart)
	m.Median = time.Since(start)
	return m, nil
}

func execRows(ctx context.Context, tx pgx.Tx, q string, args ...any) (int64, error) {
	tag, err := tx.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

// explainAnalyze runs q under EXPLAIN (ANALYZE, BUFFERS) and returns the
// plan's lines.
func explainAnalyze(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// writeMarks writes the ways' times as Markdown, and the plan of the
// dominant step of the fastest of each kind.
func writeMarks(w io.Writer, marks []GCMark, runs int, timeout time.Duration) error {
	fmt.Fprintf(w, "| mark | settings | median of %d | runs | seeds | walk | garbage | levels | garbage paths |\n|---|---|---|---|---|---|---|---|---|\n", runs)
	for _, m := range marks {
		settings := m.Way.settings()
		if m.TimedOut {
			fmt.Fprintf(w, "| %s | %s | over %v | | | | | | |\n", m.Way.Name, settings, timeout)
			continue
		}
		var rs []string
		for _, r := range m.Runs {
			rs = append(rs, fmt.Sprintf("%.2f", r.Seconds()))
		}
		levels := "-"
		if m.Way.Walk {
			levels = fmt.Sprint(m.Levels)
		}
		fmt.Fprintf(w, "| %s | %s | %.2f s | %s | %.2f s | %.2f s | %.2f s | %s | %d |\n", m.Way.Name, settings,
			m.Median.Seconds(), strings.Join(rs, ", "), m.Seed.Seconds(), m.Walk.Seconds(), m.Garbage.Seconds(), levels, m.GarbageRows)
	}
	for _, walk := range []bool{false, true} {
		// The fastest way of the kind, or when each timed out the last
		// (the most tuned), with the plan it ran.
		var best *GCMark
		for i := range marks {
			m := &marks[i]
			if m.Way.Walk != walk {
				continue
			}
			if best == nil || best.TimedOut || (!m.TimedOut && m.Median < best.Median) {
				best = m
			}
		}
		if best == nil || len(best.Plan) == 0 {
			continue
		}
		what := "EXPLAIN (ANALYZE, BUFFERS) of its " + best.PlanStep
		if best.TimedOut {
			what = "over the timeout; EXPLAIN of its " + best.PlanStep
		}
		fmt.Fprintf(w, "\n%s (%s): %s\n\n```\n%s\n```\n", best.Way.Name, best.Way.settings(), what, strings.Join(best.Plan, "\n"))
	}
	return nil
}
