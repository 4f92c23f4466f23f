package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// httpsHeading starts section 11.
const httpsHeading = "## 11. HTTPS lookups: edge vs the ceiling over TLS"

// httpsCeilingOf is the HTTPS ceiling each scenario of section 11 is
// bounded by.
var httpsCeilingOf = map[string]string{"hits": "ceiling-https", "misses": "ceiling-miss-https"}

// httpsSolo is section 11 as a run that made it alone writes it.
func (r *BenchResults) httpsSolo() (solo, error) {
	if !r.has(cellQuery{"https", "hits", "c64", "lookup", "edge-https"}) {
		return solo{}, errors.New("bench results: an https-only run without HTTPS lookups in lookups.jsonl")
	}
	return solo{
		number:   "11",
		heading:  httpsHeading,
		write:    r.writeHTTPS,
		isTarget: func(string) bool { return false },
	}, nil
}

// writeHTTPS writes section 11: the edge's HTTPS listener and the HTTPS
// ceilings under the same lookups.
func (r *BenchResults) writeHTTPS(b *bytes.Buffer) {
	f := r.Facts
	b.WriteString(httpsHeading + "\n\n")
	fmt.Fprintf(b, "*Made by the run of %s (`%s`).*\n\n", f.Date, f.Command)
	b.WriteString("A `narthex edge` serving its `--https-listen` (fasthttp over Go's crypto/tls, whatever\n" +
		"`--http-engine` serves plain HTTP) from a replica of the hot set (3000 paths of seed 1), and\n" +
		"two ceilings serving HTTPS the same way (`narthex loadtest ceiling --tls-cert-file`): every\n" +
		"request answered as the edge answers a hit (200, an 800-byte narinfo) or, with `--miss`, a\n" +
		"miss. One self-signed P-256 certificate for all three (TLS 1.3, with the cipher each client\n" +
		"agrees on with Go). The edge picks its certificate per handshake through certmagic's\n" +
		"GetCertificate, even for `--tls-cert-file`; the ceilings serve one static certificate.\n" +
		"First, 64 kept-alive connections, each handshake done before the run (`loadtest lookup`)\n" +
		"or in wrk's first moments (`wrk`, 64 handshakes in a run): requests over established TLS\n" +
		"sessions. Then a full handshake per request: the second table. Each figure is the median\n" +
		"of the repetitions; the servers take turns within a command, and each repetition starts\n" +
		"with another.\n\n")
	b.WriteString("| scenario | generator | CPU/answer edge | ceiling | edge ÷ ceiling CPU | req/s edge | ceiling | edge ÷ ceiling | p50 / p99 edge | ceiling | wrong answers edge / ceiling |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	var cmds []string
	for _, sc := range []string{"hits", "misses"} {
		ceil := httpsCeilingOf[sc]
		for _, g := range []string{"lookup", "wrk"} {
			q := func(server string) cellQuery { return cellQuery{"https", sc, "c64", g, server} }
			if !r.has(q("edge-https")) {
				continue
			}
			cell := func(server string, fn func(benchCell) float64, format func(float64) string) string {
				if v, ok := r.median(q(server), fn); ok {
					return format(v)
				}
				return "–"
			}
			ratio := func(fn func(benchCell) float64) string {
				e, ok1 := r.median(q("edge-https"), fn)
				c, ok2 := r.median(q(ceil), fn)
				if !ok1 || !ok2 {
					return "–"
				}
				return mdRatio(e, c)
			}
			lat := func(server string) string {
				a, ok := r.median(q(server), p50)
				c, _ := r.median(q(server), p99)
				if !ok {
					return "–"
				}
				return mdDur(a) + " / " + mdDur(c)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", sc, g,
				cell("edge-https", cpuPerReq, mdDur), cell(ceil, cpuPerReq, mdDur), ratio(cpuPerReq),
				cell("edge-https", throughput, mdRate), cell(ceil, throughput, mdRate), ratio(throughput),
				lat("edge-https"), lat(ceil), cell("edge-https", wrong, mdRate), cell(ceil, wrong, mdRate))
			if id := r.firstRun(q("edge-https")); id != "" {
				cmds = append(cmds, r.commands[id])
			}
		}
	}
	b.WriteString("\n")
	if c := r.writeHandshakes(b); c != "" {
		cmds = append(cmds, c)
	}
	b.WriteString("Setup and commands (repetition 1; the others rotate the order of `--url` and `--server-pid`):\n\n```sh\n")
	for _, id := range []string{"setup-https-dev", "setup-https-populate", "setup-https-cert", "setup-https-edge",
		"setup-https-ceiling", "setup-https-ceiling-miss"} {
		if c, ok := r.commands[id]; ok {
			b.WriteString(c + "\n")
		}
	}
	for _, c := range cmds {
		b.WriteString(c + "\n")
	}
	b.WriteString("```\n\n")
}

// writeOrCarryHTTPS writes section 11 when the run made it, else carries
// it over from previous as it was (it names the run that made it).
func (r *BenchResults) writeOrCarryHTTPS(b *bytes.Buffer, previous []byte) {
	if r.has(cellQuery{"https", "hits", "c64", "lookup", "edge-https"}) {
		r.writeHTTPS(b)
		return
	}
	for _, sec := range splitSections(string(previous)) {
		if strings.HasPrefix(sec, httpsHeading) {
			b.WriteString(sec)
		}
	}
}
