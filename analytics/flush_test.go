package analytics

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// flakyDB is the origin database with failures of the test's choosing:
// Begin refused while down is set, and a commit that commits and then
// reports a lost connection while lostCommit is set.
type flakyDB struct {
	*pgxpool.Pool
	down       bool
	lostCommit bool
}

func (d *flakyDB) Begin(ctx context.Context) (pgx.Tx, error) {
	if d.down {
		return nil, errors.New("connection refused")
	}
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &lossyTx{Tx: tx, db: d}, nil
}

type lossyTx struct {
	pgx.Tx
	db *flakyDB
}

func (t *lossyTx) Commit(ctx context.Context) error {
	if err := t.Tx.Commit(ctx); err != nil {
		return err
	}
	if t.db.lostCommit {
		t.db.lostCommit = false
		return errors.New("connection lost before the commit was acknowledged")
	}
	return nil
}

// stored sums the counts the database holds, by key.
func stored(t *testing.T, db *pgxpool.Pool) map[string]int64 {
	t.Helper()
	rows, err := db.Query(t.Context(), `SELECT kind || ' ' || key || ' ' || country, sum(requests) FROM fetch_count GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	var k string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error { m[k] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFlusher_ExactlyOnce sends counts through a lost commit acknowledgement
// and an outage, and checks that the database holds each count once.
func TestFlusher_ExactlyOnce(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(t.Context(), pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := &flakyDB{Pool: pool}
	// The NAR file redirects go to, listed by a narinfo of its own.
	const listing = "2c9jydsiygi6jhlz2dxbf3qx3sg6rqf6"
	for _, q := range []string{
		`INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES ('nar/x.nar.xz', 'sha256:x', 1000, 'xz')`,
		`INSERT INTO narinfo (hash, name, nar_hash, nar_size, body) VALUES ('` + listing + `', 'x', 'sha256:x', 1, 'x')`,
		`INSERT INTO narinfo_file (narinfo_hash, url) VALUES ('` + listing + `', 'nar/x.nar.xz')`,
	} {
		if _, err := pool.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	c := New(0)
	f, err := NewFlusher(FlusherConfig{Edge: "eu_1"}, c, db)
	if err != nil {
		t.Fatal(err)
	}
	hash := []byte("1b9jydsiygi6jhlz2dxbf3qx3sg6rqf6")
	add := func(kind Kind, key []byte, country string, n int) {
		for range n {
			c.Add(kind, key, [2]byte([]byte(country)), c.Hour())
		}
	}
	add(Hit, hash, "DE", 3)
	add(Miss, []byte("00000000000000000000000000000000"), "SG", 2)

	// Committed, but the edge never hears it: the batch is sent again,
	// and counted once.
	db.lostCommit = true
	if err := f.Flush(t.Context()); err == nil {
		t.Fatal("Flush with a lost commit acknowledgement = nil error")
	}
	add(Hit, hash, "DE", 1)
	if err := f.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The database down: counts wait, and gather.
	db.down = true
	add(Redirect, []byte("nar/x.nar.xz"), "DE", 5)
	for range 3 {
		if err := f.Flush(t.Context()); err == nil {
			t.Fatal("Flush with the database down = nil error")
		}
		add(Hit, hash, "DE", 1)
	}
	db.down = false
	for range 2 { // the waiting batch, then what gathered beside it
		if err := f.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int64{"hit " + string(hash) + " DE": 7, "miss 00000000000000000000000000000000 SG": 2, "redirect nar/x.nar.xz DE": 5}
	got := stored(t, pool)
	if len(got) != len(want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d stored, want %d", k, got[k], n)
		}
	}

	// The roll-ups hold each count once too.
	var daily, hourly, bytes int64
	var hits int64
	if err := pool.QueryRow(t.Context(), `SELECT (SELECT sum(requests) FROM fetch_daily),
		(SELECT sum(requests) FROM fetch_hourly WHERE edge = 'eu_1'), (SELECT sum(bytes) FROM fetch_hourly),
		(SELECT requests FROM fetch_daily WHERE kind = 'hit' AND key = $1)`, string(hash)).Scan(&daily, &hourly, &bytes, &hits); err != nil {
		t.Fatal(err)
	}
	if daily != 14 || hourly != 14 || bytes != 5000 || hits != 7 {
		t.Errorf("roll-ups: %d requests by day, %d by hour, %d bytes, %d hits; want 14, 14, 5000 (5 redirects of 1000 bytes), 7",
			daily, hourly, bytes, hits)
	}
	var used int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM path_last_fetched
		WHERE hash IN ($1, $2) AND last_fetched = to_timestamp($3)`, string(hash), listing, c.Hour()*3600).Scan(&used); err != nil || used != 2 {
		t.Errorf("%d paths last fetched in the hour they were counted (%v), want the hit one and the one listing the redirected file", used, err)
	}

	// A new flusher of the same edge (after a restart) numbers its
	// batches after the last one.
	f2, _ := NewFlusher(FlusherConfig{Edge: "eu_1"}, c, pool)
	add(Hit, hash, "DE", 1)
	if err := f2.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, pool)["hit "+string(hash)+" DE"]; got != 8 {
		t.Errorf("after a restart: %d hits stored, want 8", got)
	}
}

func TestFlusherConfig_Validate(t *testing.T) {
	for _, c := range []FlusherConfig{{Edge: ""}, {Edge: "Bad-Name"}, {Edge: "ok", Interval: -1}, {Edge: "ok", MaxBacklog: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: Validate = nil", c)
		}
	}
	if err := (FlusherConfig{Edge: "eu_1"}).Validate(); err != nil {
		t.Error(err)
	}
}
