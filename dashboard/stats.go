package dashboard

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what the statistics are read through: a *pgxpool.Pool, a
// *pgx.Conn or a transaction.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Window is a span of whole UTC days, First to Last inclusive.
type Window struct {
	First, Last time.Time
}

// LastDays is the window of the n days up to and including the UTC day of
// now.
func LastDays(now time.Time, n int) Window {
	last := now.UTC().Truncate(24 * time.Hour)
	return Window{First: last.AddDate(0, 0, 1-n), Last: last}
}

// Days is the number of days in w.
func (w Window) Days() int { return int(w.Last.Sub(w.First)/(24*time.Hour)) + 1 }

// dates are w's bounds as PostgreSQL dates.
func (w Window) dates() (first, last string) {
	return w.First.Format(time.DateOnly), w.Last.Format(time.DateOnly)
}

// Traffic is what edges counted over some span: every request once
// (Requests), narinfo hits and misses, NAR redirects and the bytes of the
// files redirected to.
type Traffic struct {
	Requests  int64 `json:"requests"`
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Redirects int64 `json:"redirects"`
	Bytes     int64 `json:"bytes"`
}

// HitRatio is the share of narinfo lookups that were hits, or -1 when
// there were none.
func (t Traffic) HitRatio() float64 {
	if t.Hits+t.Misses == 0 {
		return -1
	}
	return float64(t.Hits) / float64(t.Hits+t.Misses)
}

// Add adds u to t.
func (t *Traffic) Add(u Traffic) {
	t.Requests += u.Requests
	t.Hits += u.Hits
	t.Misses += u.Misses
	t.Redirects += u.Redirects
	t.Bytes += u.Bytes
}

// Day is the traffic of one UTC day.
type Day struct {
	Day string `json:"day,omitempty"` // YYYY-MM-DD; empty for a total
	Traffic
	HitRatio *float64 `json:"hit_ratio"` // nil without lookups
}

// Overview is the traffic of every day of w, days without requests
// included as zeros, on every edge or, when edge is not empty, on that one.
func Overview(ctx context.Context, db DB, w Window, edge string) ([]Day, error) {
	first, last := w.dates()
	rows, err := db.Query(ctx, qOverview, first, last, edge)
	if err != nil {
		return nil, fmt.Errorf("overview: %w", err)
	}
	counted := map[string]Traffic{}
	var day time.Time
	var t Traffic
	_, err = pgx.ForEachRow(rows, []any{&day, &t.Requests, &t.Hits, &t.Misses, &t.Redirects, &t.Bytes}, func() error {
		counted[day.Format(time.DateOnly)] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("overview: %w", err)
	}
	days := make([]Day, 0, w.Days())
	for d := w.First; !d.After(w.Last); d = d.AddDate(0, 0, 1) {
		key := d.Format(time.DateOnly)
		days = append(days, newDay(key, counted[key]))
	}
	return days, nil
}

func newDay(day string, t Traffic) Day {
	d := Day{Day: day, Traffic: t}
	if r := t.HitRatio(); r >= 0 {
		d.HitRatio = &r
	}
	return d
}

// Edge is an edge's health and its traffic over a window.
type Edge struct {
	Name       string `json:"name"`
	Region     string `json:"region"`
	Registered bool   `json:"registered"` // in the edge table
	Streaming  bool   `json:"streaming"`  // its replication slot is active
	// LagBytes is the WAL its slot has not confirmed; nil without a slot.
	LagBytes *int64 `json:"lag_bytes"`
	// LagSeconds is the replay lag its walsender measured; nil when it is
	// not streaming or the origin's role may not read it.
	LagSeconds *float64   `json:"lag_seconds"`
	LastSeen   *time.Time `json:"last_seen"`
	// LastBatch and LastFlush are the sequence number and time of its last
	// batch of fetch counts; nil before its first.
	LastBatch *int64     `json:"last_batch"`
	LastFlush *time.Time `json:"last_flush"`
	Traffic
}

// Edges lists every edge registered or that counted fetches, by name.
func Edges(ctx context.Context, db DB, w Window) ([]Edge, error) {
	first, last := w.dates()
	rows, err := db.Query(ctx, qEdges, first, last)
	if err != nil {
		return nil, fmt.Errorf("edges: %w", err)
	}
	edges, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Edge, error) {
		var e Edge
		err := row.Scan(&e.Name, &e.Region, &e.Registered, &e.Streaming, &e.LagBytes, &e.LagSeconds,
			&e.LastSeen, &e.LastBatch, &e.LastFlush,
			&e.Requests, &e.Hits, &e.Misses, &e.Redirects, &e.Bytes)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("edges: %w", err)
	}
	return edges, nil
}

// Country is the traffic from one country over a window; Country is ""
// for clients whose country the edges could not tell.
type Country struct {
	Country string `json:"country"`
	Traffic
}

// Countries lists the traffic by client country, busiest first.
func Countries(ctx context.Context, db DB, w Window) ([]Country, error) {
	first, last := w.dates()
	rows, err := db.Query(ctx, qCountries, first, last)
	if err != nil {
		return nil, fmt.Errorf("countries: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Country, error) {
		var c Country
		err := row.Scan(&c.Country, &c.Requests, &c.Hits, &c.Misses, &c.Redirects, &c.Bytes)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("countries: %w", err)
	}
	return list, nil
}

// DefaultTop is how many keys a top list shows unless told otherwise.
const DefaultTop = 20

// Windows are the spans, in days up to today (UTC), that statistics are
// shown over: the busiest keys are kept for each of these.
var Windows = []int{1, 7, 30, 365}

// ValidWindow reports whether days is one of Windows.
func ValidWindow(days int) bool { return slices.Contains(Windows, days) }

// Kind is a kind of count that a top list ranks.
type Kind string

// The kinds a top list can rank.
const (
	KindHit  Kind = "hit"  // narinfo hits, by path hash
	KindMiss Kind = "miss" // narinfo misses, by the hash asked for
)

// Key is one key of a top list and its requests. Name, Uploaded and
// LastFetched describe the path when the cache holds it (a missed hash
// uploaded since has them too).
type Key struct {
	Key         string     `json:"key"`
	Requests    int64      `json:"requests"`
	Name        string     `json:"name,omitempty"`
	Uploaded    *time.Time `json:"uploaded,omitempty"`
	LastFetched *time.Time `json:"last_fetched,omitempty"`
}

// Top lists the limit keys of kind with the most requests over the last
// days (one of Windows), most first.
func Top(ctx context.Context, db DB, kind Kind, days, limit int) ([]Key, error) {
	if !ValidWindow(days) {
		return nil, fmt.Errorf("top %s: no window of %d days", kind, days)
	}
	rows, err := db.Query(ctx, qTopKeys, days, string(kind), limit)
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", kind, err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Key, error) {
		var k Key
		err := row.Scan(&k.Key, &k.Requests)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("top %s: %w", kind, err)
	}
	if err := describePaths(ctx, db, keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// WindowsThrough is the last day the windows of Top end on: today once
// the origin or a batch of counts has moved them since midnight (UTC).
func WindowsThrough(ctx context.Context, db DB) (time.Time, error) {
	var t time.Time
	if err := db.QueryRow(ctx, qWindowThrough).Scan(&t); err != nil {
		return t, fmt.Errorf("windows: %w", err)
	}
	return t, nil
}

// Client is the requests of a client family: nix/<version>, guix, curl
// or other.
type Client struct {
	Family   string `json:"family"`
	Requests int64  `json:"requests"`
}

// Clients lists the requests by client family over w, most first.
func Clients(ctx context.Context, db DB, w Window) ([]Client, error) {
	first, last := w.dates()
	rows, err := db.Query(ctx, qClients, first, last)
	if err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Client, error) {
		var c Client
		err := row.Scan(&c.Family, &c.Requests)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	return list, nil
}

// describePaths fills in the name, upload and last use of the keys that
// are hashes of paths the cache holds.
func describePaths(ctx context.Context, db DB, keys []Key) error {
	if len(keys) == 0 {
		return nil
	}
	hashes := make([]string, len(keys))
	at := make(map[string]int, len(keys))
	for i, k := range keys {
		hashes[i] = k.Key
		at[k.Key] = i
	}
	rows, err := db.Query(ctx, qPathNames, hashes)
	if err != nil {
		return fmt.Errorf("path names: %w", err)
	}
	var hash, name string
	var uploaded time.Time
	var lastFetched *time.Time
	_, err = pgx.ForEachRow(rows, []any{&hash, &name, &uploaded, &lastFetched}, func() error {
		k := &keys[at[hash]]
		up := uploaded
		k.Name, k.Uploaded, k.LastFetched = name, &up, lastFetched
		return nil
	})
	if err != nil {
		return fmt.Errorf("path names: %w", err)
	}
	return nil
}

// Unfetched is the count of paths no edge has counted a use of since
// their upload, and the ones uploaded longest ago.
type Unfetched struct {
	Count int64 `json:"count"`
	// About is about how many paths the cache holds: PostgreSQL's
	// estimate of narinfo's rows.
	About  int64  `json:"about"`
	Oldest []Path `json:"oldest"`
}

// Path is a path of the cache.
type Path struct {
	Hash     string    `json:"hash"`
	Name     string    `json:"name"`
	Uploaded time.Time `json:"uploaded"`
}

// NeverFetched counts the paths never fetched since their upload and
// lists the limit uploaded longest ago.
func NeverFetched(ctx context.Context, db DB, limit int) (Unfetched, error) {
	var u Unfetched
	if err := db.QueryRow(ctx, qNeverFetchedCount).Scan(&u.Count, &u.About); err != nil {
		return u, fmt.Errorf("never fetched: %w", err)
	}
	rows, err := db.Query(ctx, qNeverFetched, limit)
	if err != nil {
		return u, fmt.Errorf("never fetched: %w", err)
	}
	u.Oldest, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Path, error) {
		var p Path
		err := row.Scan(&p.Hash, &p.Name, &p.Uploaded)
		return p, err
	})
	if err != nil {
		return u, fmt.Errorf("never fetched: %w", err)
	}
	return u, nil
}

// Store is a store's usage, limits and running job.
type Store struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Region    string `json:"region"`
	ReadOnly  bool   `json:"read_only"`
	WriteOnly bool   `json:"write_only"`
	Populate  bool   `json:"populate"`
	Drain     bool   `json:"drain"`
	Bytes     int64  `json:"bytes"`
	Files     int64  `json:"files"`
	SoftMax   *int64 `json:"soft_max_size"`
	Max       *int64 `json:"max_size"`
	Job       *Job   `json:"job"`
}

// Job is a store's running maintenance job.
type Job struct {
	Kind      string    `json:"kind"`
	Total     int64     `json:"total"`
	Done      int64     `json:"done"`
	Bytes     int64     `json:"bytes"`
	Failed    int64     `json:"failed"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// StoreUsage is every store, and the count of NAR files with no good copy
// in any of them.
type StoreUsage struct {
	Stores     []Store `json:"stores"`
	NoGoodCopy int64   `json:"no_good_copy"`
}

// Stores lists the stores by name with their usage and running jobs.
func Stores(ctx context.Context, db DB) (StoreUsage, error) {
	var u StoreUsage
	rows, err := db.Query(ctx, qStores)
	if err != nil {
		return u, fmt.Errorf("stores: %w", err)
	}
	u.Stores, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Store, error) {
		var s Store
		var kind *string
		var j Job
		var total, done, bytes, failed *int64
		var started, updated *time.Time
		err := row.Scan(&s.Name, &s.Kind, &s.Region, &s.ReadOnly, &s.WriteOnly, &s.Populate, &s.Drain,
			&s.Bytes, &s.Files, &s.SoftMax, &s.Max, &kind, &total, &done, &bytes, &failed, &started, &updated)
		if err == nil && kind != nil {
			j.Kind, j.Total, j.Done, j.Bytes, j.Failed = *kind, *total, *done, *bytes, *failed
			j.StartedAt, j.UpdatedAt = *started, *updated
			s.Job = &j
		}
		return s, err
	})
	if err != nil {
		return u, fmt.Errorf("stores: %w", err)
	}
	if err := db.QueryRow(ctx, qNoGoodCopy).Scan(&u.NoGoodCopy); err != nil {
		return u, fmt.Errorf("stores: %w", err)
	}
	return u, nil
}

// Collection is one garbage collection, finished or running.
type Collection struct {
	ID            int64      `json:"id"`
	Phase         string     `json:"phase"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at"`
	RootsExpired  int64      `json:"roots_expired"`
	Live          int64      `json:"live"`
	Garbage       int64      `json:"garbage"`
	PathsSwept    int64      `json:"paths_swept"`
	PathsKept     int64      `json:"paths_kept"`
	FilesRetired  int64      `json:"files_retired"`
	ObjectsFreed  int64      `json:"objects_freed"`
	BytesFreed    int64      `json:"bytes_freed"`
	ObjectsFenced int64      `json:"objects_fenced"`
	BytesFenced   int64      `json:"bytes_fenced"`
	Error         string     `json:"error"`
}

// Collections is the latest garbage collections and what waits behind the
// edges' fence now.
type Collections struct {
	Runs          []Collection `json:"runs"`
	ObjectsFenced int64        `json:"objects_fenced"`
	BytesFenced   int64        `json:"bytes_fenced"`
}

// GarbageCollections lists the latest limit collections, newest first.
func GarbageCollections(ctx context.Context, db DB, limit int) (Collections, error) {
	var c Collections
	rows, err := db.Query(ctx, qGCRuns, limit)
	if err != nil {
		return c, fmt.Errorf("collections: %w", err)
	}
	c.Runs, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Collection])
	if err != nil {
		return c, fmt.Errorf("collections: %w", err)
	}
	if err := db.QueryRow(ctx, qGCFenced).Scan(&c.ObjectsFenced, &c.BytesFenced); err != nil {
		return c, fmt.Errorf("collections: %w", err)
	}
	return c, nil
}
