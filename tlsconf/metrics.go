package tlsconf

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Manager's Prometheus metrics, for its server's
// registry.
type metrics struct {
	expiry   *prometheus.Desc
	failures *prometheus.CounterVec
	obtained *prometheus.CounterVec
	m        *Manager
}

func newMetrics(m *Manager) *metrics {
	return &metrics{
		m: m,
		expiry: prometheus.NewDesc("narthex_tls_certificate_expiry_timestamp_seconds",
			"When the certificate served for a name expires (Unix time); absent while the name has none.",
			[]string{"name"}, nil),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "narthex_tls_certificate_failures_total",
			Help: "Certificate orders (obtain), renewals (renew) and stored certificates (load) that failed.",
		}, []string{"kind"}),
		obtained: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "narthex_tls_certificates_obtained_total",
			Help: "Certificates this node ordered (obtain) or renewed (renew) and stored for every node.",
		}, []string{"kind"}),
	}
}

// Collectors are the Manager's metrics.
func (m *Manager) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.metrics, m.metrics.failures, m.metrics.obtained}
}

func (x *metrics) Describe(ch chan<- *prometheus.Desc) { ch <- x.expiry }

// Collect reports the expiry of the certificate each name is served with.
func (x *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, name := range x.m.names() {
		var latest float64
		for _, c := range x.m.cache.AllMatchingCertificates(name) {
			if c.Leaf != nil {
				latest = max(latest, float64(c.Leaf.NotAfter.Unix()))
			}
		}
		if latest > 0 {
			ch <- prometheus.MustNewConstMetric(x.expiry, prometheus.GaugeValue, latest, name)
		}
	}
}

// names are the names the Manager serves certificates for.
func (m *Manager) names() []string {
	if len(m.cfg.Domains) > 0 {
		return m.cfg.Domains
	}
	return m.fileNames
}

// onEvent logs and counts certmagic's orders and their failures.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	kind := "obtain"
	if r, _ := data["renewal"].(bool); r {
		kind = "renew"
	}
	switch event {
	case "cert_failed":
		m.metrics.failures.WithLabelValues(kind).Inc()
		m.log.Error("certificate not obtained; retried with backoff", "op", kind,
			"domain", fmt.Sprint(data["identifier"]), "err", fmt.Sprint(data["error"]))
	case "cert_obtained":
		m.metrics.obtained.WithLabelValues(kind).Inc()
		m.log.Info("certificate stored for every node", "op", kind, "domain", fmt.Sprint(data["identifier"]))
	}
	return nil
}
