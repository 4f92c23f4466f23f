package origin

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/narthex-cache/narthex/placement"
)

// The queries of the metrics read from the database at each scrape.
var (
	qMetricsStores      = query("metrics_stores")
	qMetricsNoGoodCopy  = query("metrics_no_good_copy")
	qMetricsEdges       = query("metrics_edges")
	qMetricsGC          = query("metrics_gc")
	dbMetricsQueryNames = []string{"stores", "no_good_copy", "edges", "gc"}
)

// dbMetricsTimeout bounds the queries of one scrape: a scrape waits no
// longer for a slow database, and reports the queries that did not answer.
const dbMetricsTimeout = 5 * time.Second

// dbQuerier is what the database metrics read from: the origin's pool.
type dbQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// dbCollector reads, at each scrape, what the origin database knows and no
// counter of this process can: the stores' usage, limits and running
// jobs, the NAR files with no good copy, and the edges' slots and fetch
// counts. Each query is cheap (see its file); one that fails or times
// out leaves its metrics out of that scrape and sets
// narthex_origin_db_metrics_error for it.
type dbCollector struct {
	db  dbQuerier
	log *slog.Logger

	storeBytes, storeFiles, storeSoftMax, storeMax, storeReserved  *prometheus.Desc
	jobItems, jobDone, jobFailed, jobBytes, jobStarted, jobUpdated *prometheus.Desc
	noGoodCopy                                                     *prometheus.Desc
	edgeSeen, edgeActive, edgeSlotLag, edgeFlushed                 *prometheus.Desc
	gcEnded, gcSeconds, gcSwept, gcRetired, gcFreed, gcFailed      *prometheus.Desc
	gcRunning, gcFencedObjects, gcFencedBytes                      *prometheus.Desc
	queryError                                                     *prometheus.Desc
}

var _ prometheus.Collector = (*dbCollector)(nil)

func newDBCollector(db dbQuerier, log *slog.Logger) *dbCollector {
	store := []string{"store"}
	job := []string{"store", "kind"}
	edge := []string{"edge"}
	d := prometheus.NewDesc
	return &dbCollector{
		db:  db,
		log: log,
		storeBytes: d("narthex_origin_store_bytes",
			"Bytes a store holds by the records (every location but a missing one; store_usage).", store, nil),
		storeFiles: d("narthex_origin_store_files",
			"NAR files a store holds by the records (every location but a missing one; store_usage).", store, nil),
		storeSoftMax: d("narthex_origin_store_soft_max_bytes",
			"A store's soft_max_size, which maintenance restores by moving files out; absent when unset.", store, nil),
		storeMax: d("narthex_origin_store_max_bytes",
			"A store's max_size, never exceeded, not even by uploads in flight; absent when unset.", store, nil),
		storeReserved: d("narthex_origin_store_reserved_bytes",
			"Bytes of a store promised to uploads in flight (live reservations).", store, nil),
		jobItems: d("narthex_origin_store_job_items",
			"Items the maintenance job running on a store expects to do; absent when no job runs.", job, nil),
		jobDone: d("narthex_origin_store_job_done_items",
			"Items the running maintenance job of a store has done (copied, moved, removed or verified good).", job, nil),
		jobFailed: d("narthex_origin_store_job_failed_items",
			"Items the running maintenance job of a store left undone, or locations its verification found bad.", job, nil),
		jobBytes: d("narthex_origin_store_job_bytes",
			"Bytes the running maintenance job of a store has copied in, hashed, moved out or removed.", job, nil),
		jobStarted: d("narthex_origin_store_job_started_timestamp_seconds",
			"When the running maintenance job of a store started (Unix time).", job, nil),
		jobUpdated: d("narthex_origin_store_job_updated_timestamp_seconds",
			"When the running maintenance job of a store last wrote its progress (Unix time); a job that stopped writing it died.", job, nil),
		noGoodCopy: d("narthex_origin_nar_files_without_good_copy",
			"NAR files with a location but no good one: their narinfos are out of service until a good copy returns.", nil, nil),
		edgeSeen: d("narthex_origin_edge_last_seen_timestamp_seconds",
			"When a registered edge was last seen: connecting, rebuilding, beating, or streaming when the origin's sweep last looked (Unix time).", edge, nil),
		edgeActive: d("narthex_origin_edge_slot_active",
			"1 while a registered edge's replication slot is streaming to it.", edge, nil),
		edgeSlotLag: d("narthex_origin_edge_slot_lag_bytes",
			"Bytes of WAL written at the origin that a registered edge's slot has not confirmed; absent when the slot is gone.", edge, nil),
		edgeFlushed: d("narthex_origin_edge_last_flush_timestamp_seconds",
			"When the last batch of fetch counts kept from an edge was flushed to the origin database (Unix time); absent when none is kept.", edge, nil),
		gcEnded: d("narthex_origin_gc_last_run_timestamp_seconds",
			"When the last garbage collection (not a dry run) ended (Unix time); absent before the first.", nil, nil),
		gcSeconds: d("narthex_origin_gc_last_run_duration_seconds",
			"How long the last garbage collection took, mark, sweep and payloads.", nil, nil),
		gcSwept: d("narthex_origin_gc_last_run_paths_swept",
			"Paths the last garbage collection deleted.", nil, nil),
		gcRetired: d("narthex_origin_gc_last_run_files_retired",
			"NAR files whose locations the last garbage collection removed, past their payload grace.", nil, nil),
		gcFreed: d("narthex_origin_gc_last_run_freed_bytes",
			"Bytes the last garbage collection deleted from the stores.", nil, nil),
		gcFailed: d("narthex_origin_gc_last_run_failed",
			"1 when the last garbage collection stopped on an error (or was interrupted); its work is finished by the next.", nil, nil),
		gcRunning: d("narthex_origin_gc_running",
			"Garbage collections under way (0 or 1: one collector runs at a time).", nil, nil),
		gcFencedObjects: d("narthex_origin_gc_fenced_objects",
			"Collected payload objects whose bytes wait until every live edge has applied their deletion.", nil, nil),
		gcFencedBytes: d("narthex_origin_gc_fenced_bytes",
			"Bytes of the collected payloads that wait for the edges.", nil, nil),
		queryError: d("narthex_origin_db_metrics_error",
			"1 when the query of a group of database metrics (stores, no_good_copy, edges, gc) failed at this scrape, whose metrics are then absent.", []string{"query"}, nil),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.storeBytes, c.storeFiles, c.storeSoftMax, c.storeMax, c.storeReserved,
		c.jobItems, c.jobDone, c.jobFailed, c.jobBytes, c.jobStarted, c.jobUpdated, c.noGoodCopy,
		c.edgeSeen, c.edgeActive, c.edgeSlotLag, c.edgeFlushed, c.gcEnded, c.gcSeconds, c.gcSwept, c.gcRetired,
		c.gcFreed, c.gcFailed, c.gcRunning, c.gcFencedObjects, c.gcFencedBytes, c.queryError} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), dbMetricsTimeout)
	defer cancel()
	for i, collect := range []func(context.Context, chan<- prometheus.Metric) error{c.stores, c.noGood, c.edges, c.gc} {
		failed := 0.0
		if err := collect(ctx, ch); err != nil {
			c.log.Warn("database metrics not read", "query", dbMetricsQueryNames[i], "err", err)
			failed = 1
		}
		ch <- prometheus.MustNewConstMetric(c.queryError, prometheus.GaugeValue, failed, dbMetricsQueryNames[i])
	}
}

// gauge is a gauge of desc with labels.
func gauge(desc *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
}

// unix is t in seconds since the Unix epoch.
func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// stores sends the stores' usage, limits and running jobs. Rows are read
// whole before any metric is sent, so that a query failing halfway sends
// none of its metrics.
func (c *dbCollector) stores(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, err := c.db.Query(ctx, qMetricsStores, placement.ReservationLapse)
	if err != nil {
		return err
	}
	var ms []prometheus.Metric
	for rows.Next() {
		var (
			name                          string
			bytes, files, reserved        int64
			softMax, maxSize              *int64
			kind                          *string
			total, done, jobBytes, failed *int64
			started, updated              *time.Time
		)
		if err := rows.Scan(&name, &bytes, &files, &softMax, &maxSize, &reserved,
			&kind, &total, &done, &jobBytes, &failed, &started, &updated); err != nil {
			rows.Close()
			return err
		}
		ms = append(ms, gauge(c.storeBytes, float64(bytes), name), gauge(c.storeFiles, float64(files), name),
			gauge(c.storeReserved, float64(reserved), name))
		if softMax != nil {
			ms = append(ms, gauge(c.storeSoftMax, float64(*softMax), name))
		}
		if maxSize != nil {
			ms = append(ms, gauge(c.storeMax, float64(*maxSize), name))
		}
		if kind != nil {
			ms = append(ms, gauge(c.jobItems, float64(*total), name, *kind), gauge(c.jobDone, float64(*done), name, *kind),
				gauge(c.jobFailed, float64(*failed), name, *kind), gauge(c.jobBytes, float64(*jobBytes), name, *kind),
				gauge(c.jobStarted, unix(*started), name, *kind), gauge(c.jobUpdated, unix(*updated), name, *kind))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range ms {
		ch <- m
	}
	return nil
}

func (c *dbCollector) noGood(ctx context.Context, ch chan<- prometheus.Metric) error {
	var n int64
	if err := c.db.QueryRow(ctx, qMetricsNoGoodCopy).Scan(&n); err != nil {
		return err
	}
	ch <- gauge(c.noGoodCopy, float64(n))
	return nil
}

// edges sends what the origin database knows of each registered edge.
func (c *dbCollector) edges(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, err := c.db.Query(ctx, qMetricsEdges)
	if err != nil {
		return err
	}
	var ms []prometheus.Metric
	for rows.Next() {
		var (
			name     string
			seen     time.Time
			active   bool
			lag      *int64
			flushed  *time.Time
			isActive float64
		)
		if err := rows.Scan(&name, &seen, &active, &lag, &flushed); err != nil {
			rows.Close()
			return err
		}
		if active {
			isActive = 1
		}
		ms = append(ms, gauge(c.edgeSeen, unix(seen), name), gauge(c.edgeActive, isActive, name))
		if lag != nil {
			ms = append(ms, gauge(c.edgeSlotLag, float64(*lag), name))
		}
		if flushed != nil {
			ms = append(ms, gauge(c.edgeFlushed, unix(*flushed), name))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range ms {
		ch <- m
	}
	return nil
}

// gc sends the last collection's figures, whether one runs, and what the
// fence holds.
func (c *dbCollector) gc(ctx context.Context, ch chan<- prometheus.Metric) error {
	var (
		ended                     *time.Time
		seconds                   *float64
		swept, retired, freed     *int64
		failed                    *bool
		running, objects, waiting int64
	)
	if err := c.db.QueryRow(ctx, qMetricsGC).Scan(&ended, &seconds, &swept, &retired, &freed, &failed,
		&running, &objects, &waiting); err != nil {
		return err
	}
	ch <- gauge(c.gcRunning, float64(running))
	ch <- gauge(c.gcFencedObjects, float64(objects))
	ch <- gauge(c.gcFencedBytes, float64(waiting))
	if ended == nil {
		return nil
	}
	f := 0.0
	if *failed {
		f = 1
	}
	ch <- gauge(c.gcEnded, unix(*ended))
	ch <- gauge(c.gcSeconds, *seconds)
	ch <- gauge(c.gcSwept, float64(*swept))
	ch <- gauge(c.gcRetired, float64(*retired))
	ch <- gauge(c.gcFreed, float64(*freed))
	ch <- gauge(c.gcFailed, f)
	return nil
}
