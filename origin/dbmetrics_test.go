package origin

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/narthex-cache/narthex/internal/pgtest"
)

// The metrics read from the database at each scrape say what the records
// say: each store's usage (missing locations not counted), limits and live
// reservations, its running job (a finished one not shown), the files with
// no good copy, and each edge's last connection and last batch of counts.
func TestDBCollector_Collect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO store (name, kind, base_url, soft_max_size, max_size) VALUES ('bucket', 's3', 'https://s3.example', 1000, 2000)`,
		`INSERT INTO nar_file (url, file_hash, file_size, compression) VALUES
			('nar/a.nar', 'sha256:a', 100, 'none'), ('nar/b.nar', 'sha256:b', 50, 'none'), ('nar/c.nar', 'sha256:c', 7, 'none')`,
		`INSERT INTO payload_location (url, store_id, key, size, state) SELECT 'nar/a.nar', id, 'a', 100, 'good' FROM store WHERE name = 'bucket'`,
		// Corrupt: held by the records, but no good copy anywhere.
		`INSERT INTO payload_location (url, store_id, key, size, state) SELECT 'nar/b.nar', id, 'b', 50, 'corrupt' FROM store WHERE name = 'bucket'`,
		// Missing: not held, and no good copy anywhere.
		`INSERT INTO payload_location (url, store_id, key, size, state) SELECT 'nar/c.nar', id, 'c', 7, 'missing' FROM store WHERE name = 'local'`,
		`INSERT INTO store_reservation (store_id, bytes, holder) SELECT id, 30, 'live' FROM store WHERE name = 'bucket'`,
		`INSERT INTO store_reservation (store_id, bytes, holder, renewed_at) SELECT id, 1000, 'dead', now() - interval '1 hour' FROM store WHERE name = 'bucket'`,
		`INSERT INTO store_job (store_id, kind, total, done, bytes, failed, started_at, updated_at)
			SELECT id, 'populate', 10, 4, 400, 1, '2026-01-02 03:04:05+00', '2026-01-02 03:04:15+00' FROM store WHERE name = 'bucket'`,
		`INSERT INTO store_job (store_id, kind, total, done, finished_at) SELECT id, 'verify', 5, 5, now() FROM store WHERE name = 'local'`,
		`INSERT INTO edge (name, slot_name, last_seen) VALUES ('fra', 'narthex_fra_1', '2026-01-02 03:04:05+00')`,
		`INSERT INTO fetch_batch (edge, seq, flushed_at) VALUES ('fra', 1, '2026-01-02 03:00:00+00'), ('fra', 2, '2026-01-02 03:05:00+00')`,
	} {
		if _, err := h.db.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	ts := func(d time.Duration) float64 { return float64(started.Add(d).Unix()) }
	want := map[string]float64{
		`narthex_origin_store_bytes{store="bucket"}`:                                         150,
		`narthex_origin_store_bytes{store="local"}`:                                          0,
		`narthex_origin_store_files{store="bucket"}`:                                         2,
		`narthex_origin_store_files{store="local"}`:                                          0,
		`narthex_origin_store_soft_max_bytes{store="bucket"}`:                                1000,
		`narthex_origin_store_max_bytes{store="bucket"}`:                                     2000,
		`narthex_origin_store_reserved_bytes{store="bucket"}`:                                30,
		`narthex_origin_store_reserved_bytes{store="local"}`:                                 0,
		`narthex_origin_store_job_items{kind="populate",store="bucket"}`:                     10,
		`narthex_origin_store_job_done_items{kind="populate",store="bucket"}`:                4,
		`narthex_origin_store_job_failed_items{kind="populate",store="bucket"}`:              1,
		`narthex_origin_store_job_bytes{kind="populate",store="bucket"}`:                     400,
		`narthex_origin_store_job_started_timestamp_seconds{kind="populate",store="bucket"}`: ts(0),
		`narthex_origin_store_job_updated_timestamp_seconds{kind="populate",store="bucket"}`: ts(10 * time.Second),
		`narthex_origin_nar_files_without_good_copy`:                                         2,
		`narthex_origin_edge_last_seen_timestamp_seconds{edge="fra"}`:                        ts(0),
		`narthex_origin_edge_slot_active{edge="fra"}`:                                        0,
		`narthex_origin_edge_last_flush_timestamp_seconds{edge="fra"}`:                       ts(55 * time.Second),
		`narthex_origin_db_metrics_error{query="edges"}`:                                     0,
		`narthex_origin_db_metrics_error{query="gc"}`:                                        0,
		`narthex_origin_db_metrics_error{query="no_good_copy"}`:                              0,
		`narthex_origin_db_metrics_error{query="stores"}`:                                    0,
	}
	names := []string{"narthex_origin_store_bytes", "narthex_origin_store_files", "narthex_origin_store_soft_max_bytes",
		"narthex_origin_store_max_bytes", "narthex_origin_store_reserved_bytes", "narthex_origin_store_job_items",
		"narthex_origin_store_job_done_items", "narthex_origin_store_job_failed_items", "narthex_origin_store_job_bytes",
		"narthex_origin_store_job_started_timestamp_seconds", "narthex_origin_store_job_updated_timestamp_seconds",
		"narthex_origin_nar_files_without_good_copy", "narthex_origin_edge_last_seen_timestamp_seconds",
		"narthex_origin_edge_slot_active", "narthex_origin_edge_slot_lag_bytes", "narthex_origin_edge_last_flush_timestamp_seconds",
		"narthex_origin_db_metrics_error"}
	// Through the origin's own registry, as /metrics serves them.
	if diff := cmp.Diff(want, gathered(t, h.srv.metrics.registry, names...)); diff != "" {
		t.Errorf("database metrics (-want +got):\n%s", diff)
	}
}

// A database that cannot be read leaves the database metrics out of the
// scrape and says which queries failed; the scrape itself still answers.
func TestDBCollector_DatabaseDown(t *testing.T) {
	t.Parallel()
	db, err := pgxpool.New(t.Context(), pgtest.NewOriginDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newDBCollector(db, slog.New(slog.DiscardHandler)))
	want := map[string]float64{
		`narthex_origin_db_metrics_error{query="edges"}`:        1,
		`narthex_origin_db_metrics_error{query="gc"}`:           1,
		`narthex_origin_db_metrics_error{query="no_good_copy"}`: 1,
		`narthex_origin_db_metrics_error{query="stores"}`:       1,
	}
	if diff := cmp.Diff(want, gathered(t, reg)); diff != "" {
		t.Errorf("metrics of a database down (-want +got):\n%s", diff)
	}
}

// The collection metrics say what the last finished run that was not a
// dry run did, whether one runs now, and what the fence holds.
func TestDBCollector_GarbageCollection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	names := []string{"narthex_origin_gc_last_run_timestamp_seconds", "narthex_origin_gc_last_run_duration_seconds",
		"narthex_origin_gc_last_run_paths_swept", "narthex_origin_gc_last_run_files_retired",
		"narthex_origin_gc_last_run_freed_bytes", "narthex_origin_gc_last_run_failed", "narthex_origin_gc_running",
		"narthex_origin_gc_fenced_objects", "narthex_origin_gc_fenced_bytes"}
	before := map[string]float64{"narthex_origin_gc_running": 0, "narthex_origin_gc_fenced_objects": 0, "narthex_origin_gc_fenced_bytes": 0}
	if diff := cmp.Diff(before, gathered(t, h.srv.metrics.registry, names...)); diff != "" {
		t.Errorf("before any collection (-want +got):\n%s", diff)
	}
	for _, q := range []string{
		`INSERT INTO gc_run (dry_run, started_at, finished_at, paths_swept, files_retired, bytes_freed)
			VALUES (false, '2026-01-02 03:00:00+00', '2026-01-02 03:00:40+00', 7, 5, 5000),
			       (false, '2026-01-01 03:00:00+00', '2026-01-01 03:00:10+00', 1, 1, 10),
			       (true, '2026-01-03 03:00:00+00', '2026-01-03 03:00:01+00', 99, 99, 99),
			       (false, now(), NULL, 0, 0, 0)`,
		`INSERT INTO payload_tombstone (url, store_id, key, size) SELECT 'nar/x.nar', id, 'nar/x.nar', 300 FROM store WHERE name = 'local'`,
		`INSERT INTO payload_tombstone (url, store_id, key, size) SELECT 'nar/y.nar', id, 'nar/y.nar', 20 FROM store WHERE name = 'local'`,
	} {
		h.exec(q)
	}
	want := map[string]float64{
		"narthex_origin_gc_last_run_timestamp_seconds": float64(time.Date(2026, 1, 2, 3, 0, 40, 0, time.UTC).Unix()),
		"narthex_origin_gc_last_run_duration_seconds":  40,
		"narthex_origin_gc_last_run_paths_swept":       7,
		"narthex_origin_gc_last_run_files_retired":     5,
		"narthex_origin_gc_last_run_freed_bytes":       5000,
		"narthex_origin_gc_last_run_failed":            0,
		"narthex_origin_gc_running":                    1,
		"narthex_origin_gc_fenced_objects":             2,
		"narthex_origin_gc_fenced_bytes":               320,
	}
	if diff := cmp.Diff(want, gathered(t, h.srv.metrics.registry, names...)); diff != "" {
		t.Errorf("collection metrics (-want +got):\n%s", diff)
	}
}

// gathered is what reg exports of the metric families names (every family
// when none is named), each series as name{label="value",...} (labels in
// name order) and its value.
func gathered(t *testing.T, reg prometheus.Gatherer, names ...string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if len(names) > 0 && !slices.Contains(names, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	return got
}
