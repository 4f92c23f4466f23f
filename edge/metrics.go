package edge

import (
	"time"

	"github.com/narthex-cache/narthex/replication"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	hits, misses, redirects, narMisses, errors prometheus.Counter
	// narNoGoodCopy counts NAR requests for files whose every copy is
	// missing, corrupt or in a write-only store; narUnreachable those
	// whose every good copy was passed over (skipped*).
	narNoGoodCopy, narUnreachable prometheus.Counter
	skippedPresign, skippedNoURL  prometheus.Counter
	// ranked counts NAR redirects by how their stores were ranked
	// (rankedAlone, ...).
	ranked [3]prometheus.Counter
	// requests times every answer (requests.go).
	requests *requestMetrics
}

func newMetrics(reg prometheus.Registerer, src Source) *metrics {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "narthex_edge_narinfo_lookups_total",
		Help: "Narinfo lookups answered, by result (hit or miss).",
	}, []string{"result"})
	nars := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "narthex_edge_nar_requests_total",
		Help: "NAR requests answered, by result: redirect (or 200 to a HEAD), miss (no store holds the file), no_good_copy (every copy missing, corrupt or write-only), unreachable (no store holding a good copy could be sent to).",
	}, []string{"result"})
	errs := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "narthex_edge_replica_errors_total",
		Help: "Replica reads that failed (answered 503).",
	})
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "narthex_edge_nar_stores_skipped_total",
		Help: "Stores holding a good copy of a requested NAR that were passed over, by reason: presign (a private store this edge could not presign a URL for), no_url (a store with no base URL that is not S3).",
	}, []string{"reason"})
	ranked := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "narthex_edge_nar_rankings_total",
		Help: "NAR redirects by how the stores holding the file were ranked: alone (one store), distance (client and stores placed), priority (the client, or every store, not placed).",
	}, []string{"by"})
	m := &metrics{
		hits:           lookups.WithLabelValues("hit"),
		misses:         lookups.WithLabelValues("miss"),
		redirects:      nars.WithLabelValues("redirect"),
		narMisses:      nars.WithLabelValues("miss"),
		narNoGoodCopy:  nars.WithLabelValues("no_good_copy"),
		narUnreachable: nars.WithLabelValues("unreachable"),
		skippedPresign: skipped.WithLabelValues("presign"),
		skippedNoURL:   skipped.WithLabelValues("no_url"),
		errors:         errs,
		requests:       newRequestMetrics(reg),
	}
	m.ranked[rankedAlone] = ranked.WithLabelValues("alone")
	m.ranked[rankedByDistance] = ranked.WithLabelValues("distance")
	m.ranked[rankedByPriority] = ranked.WithLabelValues("priority")
	status := func(f func(replication.Status) float64) func() float64 {
		return func() float64 { return f(src.Status()) }
	}
	reg.MustRegister(lookups, nars, errs, skipped, ranked,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "narthex_replication_applied_lsn",
			Help: "LSN of the last transaction applied to the replica.",
		}, status(func(st replication.Status) float64 { return float64(st.AppliedLSN) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "narthex_replication_staleness_seconds",
			Help: "Seconds since the replica last held everything the origin had sent.",
		}, status(func(st replication.Status) float64 {
			if st.CaughtUpAt.IsZero() {
				return -1
			}
			return time.Since(st.CaughtUpAt).Seconds()
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "narthex_replication_connected",
			Help: "1 while the replication connection is streaming.",
		}, status(func(st replication.Status) float64 { return bool01(st.Connected) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "narthex_replication_transactions_total",
			Help: "Transactions applied to the replica; rate() is the apply rate.",
		}, status(func(st replication.Status) float64 { return float64(st.Transactions) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "narthex_replication_lag_bytes",
			Help: "Bytes of WAL the origin had written, by its last report (a keepalive or the data it sent), past the position the replica has applied: " +
				"ServerWALEnd - AppliedLSN, 0 when not behind. The server's WAL holds more than the published tables, so a few bytes may show until the next keepalive (every few seconds) " +
				"settles them. It reads the last report: while disconnected it stays as it was.",
		}, status(lagBytes)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "narthex_replication_lag_seconds",
			Help: "How far behind the origin the replica may be, in seconds: 0 while connected with nothing left to apply of what the origin reported; " +
				"otherwise the age of the last origin commit applied (now - LastCommit), an upper bound of the age of the oldest change the replica lacks; -1 when that time is unknown.",
		}, status(func(st replication.Status) float64 { return lagSeconds(st, time.Now()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "narthex_replication_changes_total",
			Help: "Row changes (inserts, updates, deletes, truncates) of the transactions applied to the replica; rate() is the apply rate in rows.",
		}, status(func(st replication.Status) float64 { return float64(st.Changes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "narthex_replication_bootstrapping",
			Help: "1 while a bootstrap copies the origin's published tables into a new replica.",
		}, status(func(st replication.Status) float64 { return bool01(st.Bootstrapping) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "narthex_replication_bootstrap_rows",
			Help: "Rows the current (or last) bootstrap has copied, counted every few tens of megabytes.",
		}, status(func(st replication.Status) float64 { return float64(st.BootstrapRows) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "narthex_replication_bootstrap_expected_rows",
			Help: "The origin's estimate, from its table statistics, of the rows the current (or last) bootstrap copies; 0 when it has none.",
		}, status(func(st replication.Status) float64 { return float64(st.BootstrapRowsExpected) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "narthex_replication_bootstraps_total",
			Help: "Bootstraps of a new replica by this process.",
		}, status(func(st replication.Status) float64 { return float64(st.Bootstraps) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "narthex_replica_corruptions_total",
			Help: "Replicas found corrupt on disk; each is rebuilt while what it can still read is served.",
		}, status(func(st replication.Status) float64 { return float64(st.Corruptions) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "narthex_replication_reconnects_total",
			Help: "Replication sessions that ended and were retried.",
		}, status(func(st replication.Status) float64 { return float64(st.Reconnects) })),
	)
	return m
}

// lagBytes is how many bytes of the WAL the origin reported the replica
// has not applied.
func lagBytes(st replication.Status) float64 {
	if st.ServerWALEnd <= st.AppliedLSN {
		return 0
	}
	return float64(st.ServerWALEnd - st.AppliedLSN)
}

// lagSeconds bounds how far behind the origin the replica is at now: 0
// when connected and nothing the origin reported is left to apply, else
// the age of the last commit applied, -1 when unknown.
func lagSeconds(st replication.Status, now time.Time) float64 {
	switch {
	case st.Connected && !st.CaughtUpAt.IsZero() && st.ServerWALEnd <= st.AppliedLSN:
		return 0
	case st.LastCommit.IsZero():
		return -1
	}
	return max(now.Sub(st.LastCommit).Seconds(), 0)
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
