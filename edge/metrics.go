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
		}, status(func(st replication.Status) float64 {
			if st.Connected {
				return 1
			}
			return 0
		})),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "narthex_replication_transactions_total",
			Help: "Transactions applied to the replica.",
		}, status(func(st replication.Status) float64 { return float64(st.Transactions) })),
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
