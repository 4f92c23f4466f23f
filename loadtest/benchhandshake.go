package loadtest

import (
	"bytes"
	"fmt"
)

// The handshake scenario of section 11: every request on a new connection
// (loadtest lookup --new-connections), so every answer costs the server a
// full TLS handshake.
const handshakeScenario = "handshakes"

func connectRate(c benchCell) float64   { return c.res.ConnectRate }
func cpuPerConnect(c benchCell) float64 { return float64(c.res.CPUPerConnect) }

// writeHandshakes writes the handshake table of section 11 and returns
// the command of its first run ("" when the run has none).
func (r *BenchResults) writeHandshakes(b *bytes.Buffer) string {
	q := func(server string) cellQuery { return cellQuery{"https", handshakeScenario, "c64", "lookup", server} }
	if !r.has(q("edge-https")) {
		return ""
	}
	b.WriteString("Handshakes: every request on a new connection (`loadtest lookup --new-connections`, which\n" +
		"sends `Connection: close` and closes each connection after its answer), 64 at once, all\n" +
		"hits. The client keeps no TLS session, so every handshake is a full one (none resumed;\n" +
		"`TestLookup_NewConnections` checks this on the server's side); its latency counts from\n" +
		"connecting to the answer. wrk is left out here: its OpenSSL client resumes its session\n" +
		"on every reconnection, so it would measure resumed handshakes, not full ones. The\n" +
		"client's own handshakes share the machine with the server's, which bounds handshakes\n" +
		"per second. CPU per handshake is the server's own CPU per connection made, with its one\n" +
		"answer; \"less an answer\" takes off the CPU per answer of kept-alive hits above, leaving\n" +
		"the handshake and the TCP connection's own cost. `go test -run '^$' -bench\n" +
		"BenchmarkHandshake ./tlsconf/` compares the edge's TLS configuration with a static one\n" +
		"in one process, client and server.\n\n")
	b.WriteString("| handshakes/s edge | ceiling | edge ÷ ceiling | CPU/handshake edge | ceiling | edge ÷ ceiling | less an answer edge | ceiling | edge ÷ ceiling | p50 / p99 edge | ceiling | wrong answers edge / ceiling |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	ceil := httpsCeilingOf["hits"]
	med := func(server string, fn func(benchCell) float64) (float64, bool) { return r.median(q(server), fn) }
	cell := func(server string, fn func(benchCell) float64, format func(float64) string) string {
		if v, ok := med(server, fn); ok {
			return format(v)
		}
		return "–"
	}
	ratio := func(fn func(benchCell) float64) string {
		e, ok1 := med("edge-https", fn)
		c, ok2 := med(ceil, fn)
		if !ok1 || !ok2 || e <= 0 || c <= 0 {
			return "–"
		}
		return mdRatio(e, c)
	}
	// alone is the CPU per handshake less the CPU per kept-alive answer.
	alone := func(server string) (float64, bool) {
		h, ok1 := med(server, cpuPerConnect)
		a, ok2 := r.median(cellQuery{"https", "hits", "c64", "lookup", server}, cpuPerReq)
		if !ok1 || !ok2 || h <= a {
			return 0, false
		}
		return h - a, true
	}
	aloneCell := func(server string) string {
		if v, ok := alone(server); ok {
			return mdDur(v)
		}
		return "–"
	}
	aloneRatio := "–"
	if e, ok := alone("edge-https"); ok {
		if c, ok := alone(ceil); ok {
			aloneRatio = mdRatio(e, c)
		}
	}
	lat := func(server string) string {
		a, ok := med(server, p50)
		c, _ := med(server, p99)
		if !ok {
			return "–"
		}
		return mdDur(a) + " / " + mdDur(c)
	}
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n",
		cell("edge-https", connectRate, mdRate), cell(ceil, connectRate, mdRate), ratio(connectRate),
		cell("edge-https", cpuPerConnect, mdDur), cell(ceil, cpuPerConnect, mdDur), ratio(cpuPerConnect),
		aloneCell("edge-https"), aloneCell(ceil), aloneRatio,
		lat("edge-https"), lat(ceil), cell("edge-https", wrong, mdRate), cell(ceil, wrong, mdRate))
	b.WriteString("\n")
	if id := r.firstRun(q("edge-https")); id != "" {
		return r.commands[id]
	}
	return ""
}
