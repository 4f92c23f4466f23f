package origin

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the origin's Prometheus metrics, in a registry the Server
// owns.
type metrics struct {
	registry         *prometheus.Registry
	handler          http.Handler
	uploads          *prometheus.CounterVec
	uploadBytes      *prometheus.CounterVec
	narinfosAccepted prometheus.Counter
	requestErrors    *prometheus.CounterVec
	connsRefused     prometheus.Counter
	downloadsCutOff  prometheus.Counter
	sweptTempFiles   prometheus.Counter
	sweptTempBytes   prometheus.Counter
	sweptNarFiles    *prometheus.CounterVec
	// expiredFetchBatches counts the batches of fetch counts removed
	// past their retention.
	expiredFetchBatches prometheus.Counter
	uploadsByStore      *prometheus.CounterVec
	noRoom              prometheus.Counter
	markedMissing       prometheus.Counter
	requests            *prometheus.HistogramVec
}

// requestBuckets are the bounds of the request latency histogram, in
// seconds: from a narinfo read from the database (a millisecond or so) to
// a NAR of gigabytes sent or received (minutes).
var requestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 30, 120, 600}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		registry: reg,
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "narthex_origin_uploads_total",
			Help: "PUT requests by kind of file and response status.",
		}, []string{"kind", "status"}),
		uploadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "narthex_origin_upload_bytes_total",
			Help: "Bytes of accepted uploads by kind of file.",
		}, []string{"kind"}),
		narinfosAccepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_origin_narinfos_accepted_total",
			Help: "Narinfos newly stored (identical re-uploads not counted).",
		}),
		requestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "narthex_origin_request_errors_total",
			Help: "Requests answered with an error, by status.",
		}, []string{"status"}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_origin_connections_refused_total",
			Help: "Connections closed at once because their address had too many open.",
		}),
		downloadsCutOff: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_origin_downloads_cut_off_total",
			Help: "NAR downloads cut off because the client took no data for DownloadStallTimeout.",
		}),
		sweptTempFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_origin_sweep_temp_files_removed_total",
			Help: "Temporary files of interrupted uploads removed from the local store.",
		}),
		sweptTempBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_origin_sweep_temp_bytes_removed_total",
			Help: "Bytes of the temporary files removed from the local store.",
		}),
		expiredFetchBatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_origin_fetch_batches_expired_total",
			Help: "Batches of raw fetch counts removed past their retention (their roll-ups stay).",
		}),
		sweptNarFiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "narthex_origin_sweep_nar_files_total",
			Help: "NAR files found in the local store with no record, by what was done: recorded (bytes match the name) or removed.",
		}, []string{"action"}),
		uploadsByStore: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "narthex_origin_nar_uploads_by_store_total",
			Help: "NAR files uploaded and recorded, by the store they landed in.",
		}, []string{"store"}),
		markedMissing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_origin_locations_marked_missing_total",
			Help: "NAR files the records placed in the local store that it did not have when asked, marked missing.",
		}),
		noRoom: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "narthex_origin_uploads_without_room_total",
			Help: "NAR uploads answered 507 because no store that takes uploads had room for them.",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "narthex_origin_request_duration_seconds",
			Help: "Time the origin took to answer a request, until its whole body was sent or, for an upload, read and stored, " +
				"by route (nix-cache-info, narinfo, nar, listing, log, realisation, debuginfo, healthz, metrics, dashboard, other), method (GET, HEAD, PUT, other) and status. " +
				"Its _count is the origin's requests.",
			Buckets: requestBuckets,
		}, []string{"route", "method", "status"}),
	}
	reg.MustRegister(m.requests, m.uploads, m.uploadBytes, m.narinfosAccepted, m.requestErrors, m.connsRefused, m.downloadsCutOff,
		m.sweptTempFiles, m.sweptTempBytes, m.sweptNarFiles, m.expiredFetchBatches, m.uploadsByStore, m.noRoom, m.markedMissing,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{DisableCompression: true})
	return m
}

// countUpload counts one PUT of kind answered with status.
func (m *metrics) countUpload(k routeKind, status int) {
	m.uploads.WithLabelValues(k.uploadKind(), strconv.Itoa(status)).Inc()
}

// observeRequest records a request of route k with method, answered with
// status, begun at start.
func (m *metrics) observeRequest(k routeKind, method string, status int, start time.Time) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut:
	default:
		method = "other"
	}
	if status == 0 {
		status = http.StatusOK // nothing written: net/http sends 200
	}
	m.requests.WithLabelValues(k.name(), method, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
}

// serveMetrics renders the metrics into a buffer first, so that the answer
// has a Content-Length like every other.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	var b bufferedResponse
	s.metrics.handler.ServeHTTP(&b, r)
	h := w.Header()
	for k, v := range b.Header() {
		h[k] = v
	}
	h.Del("Content-Encoding")
	h.Set("Content-Length", strconv.Itoa(b.body.Len()))
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
	return nil
}

// bufferedResponse is a ResponseWriter that keeps the response in memory.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
