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
