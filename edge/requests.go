package edge

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// route is what a request asked for, as Handle told it apart: a label of
// the request metrics.
type route uint8

const (
	routeNarinfo route = iota
	routeNar
	routeCacheInfo
	routeHealthz
	routeReadyz
	routeMetrics
	routeOther // a path the edge does not serve
	numRoutes
)

var routeNames = [numRoutes]string{
	routeNarinfo:   "narinfo",
	routeNar:       "nar",
	routeCacheInfo: "nix-cache-info",
	routeHealthz:   "healthz",
	routeReadyz:    "readyz",
	routeMetrics:   "metrics",
	routeOther:     "other",
}

// statusOther is the index of the status label "other": a status no route
// answers with by design (a 500 from the metrics handler, say).
const statusOther = 0

// numStatuses counts the statuses statusIndex tells apart, other included.
const numStatuses = 6

// routeStatuses are the statuses each route can answer with: a series is
// made for each of them and for "other", and for no other pair, so that a
// scrape lists what can happen and nothing more. Every known path answers
// 405 to a method other than GET and HEAD; a path the edge does not serve
// answers 404 to every method.
var routeStatuses = [numRoutes][]int{
	routeNarinfo:   {200, 404, 405, 503},
	routeNar:       {200, 302, 404, 405, 503},
	routeCacheInfo: {200, 405},
	routeHealthz:   {200, 405},
	routeReadyz:    {200, 405, 503},
	routeMetrics:   {200, 405},
	routeOther:     {404},
}

// requestBuckets are the bounds of the request latency histogram, in
// seconds. A narinfo answered from the replica's memory cache takes a
// microsecond or less and one read from its store tens of microseconds, so
// the lowest buckets tell those apart; the highest catch a scrape of
// /metrics or a stalled disk.
var requestBuckets = []float64{
	10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3, 250e-3, 1,
}

// requestMetrics time the answers of Handle, by route and status, with
// one Observer made for each pair at start, so that recording a request
// allocates nothing and looks no label up.
type requestMetrics struct {
	observers [numRoutes][numStatuses]prometheus.Observer
}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	hv := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "narthex_edge_request_duration_seconds",
		Help: "Time the edge took to answer a request, from the parsed request to the answer ready to send (the network write not included), " +
			"by route (narinfo, nar, nix-cache-info, healthz, readyz, metrics, other) and status (the code, or other for one the route does not answer with by design). " +
			"Its _count is the edge's requests.",
		Buckets: requestBuckets,
	}, []string{"route", "status"})
	reg.MustRegister(hv)
	m := &requestMetrics{}
	for r := range numRoutes {
		other := hv.WithLabelValues(routeNames[r], "other")
		for i := range m.observers[r] {
			m.observers[r][i] = other
		}
		for _, code := range routeStatuses[r] {
			m.observers[r][statusIndex(code)] = hv.WithLabelValues(routeNames[r], strconv.Itoa(code))
		}
	}
	return m
}

// statusIndex is the index of the status label of code: one of the
// statuses Handle answers with, or statusOther.
func statusIndex(code int) int {
	switch code {
	case 200:
		return 1
	case 302:
		return 2
	case 404:
		return 3
	case 405:
		return 4
	case 503:
		return 5
	}
	return statusOther
}

// observe records a request of route answered with code, begun at start.
func (m *requestMetrics) observe(r route, code int, start time.Time) {
	m.observers[r][statusIndex(code)].Observe(time.Since(start).Seconds())
}
