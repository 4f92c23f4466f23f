package loadtest

import (
	"bytes"
	"fmt"
)

// bootEdgeFig is f of every edge bootstrap, in repetition order.
func (l *benchLater) bootEdgeFig(f func(BootstrapResult) float64) []float64 {
	v := make([]float64, len(l.bootEdge))
	for i, r := range l.bootEdge {
		v[i] = f(r)
	}
	return v
}

// bootNativeFig is f of every native copy, in repetition order.
func (l *benchLater) bootNativeFig(f func(nativeBoot) float64) []float64 {
	v := make([]float64, len(l.bootNative))
	for i, r := range l.bootNative {
		v[i] = f(r)
	}
	return v
}

func bootReady(r BootstrapResult) float64 { return float64(r.ReadyAfter) }
func bootRSS(r BootstrapResult) float64   { return float64(r.RSS) }
func bootPeak(r BootstrapResult) float64  { return float64(r.PeakRSS) }
func bootDisk(r BootstrapResult) float64  { return float64(r.ReplicaBytes) }

// writeBootstrap writes section 2: a fresh edge's bootstrap against a
// native subscriber's initial table copy.
func (r *BenchResults) writeBootstrap(b *bytes.Buffer, l *benchLater) {
	n := l.OriginNarinfos
	fmt.Fprintf(b, "## 2. Bootstrap of %d narinfos: edge vs native subscriber\n\n", n)
	if l.populate2 != nil {
		fmt.Fprintf(b, "The origin was filled up to %d narinfos by a second `loadtest populate` (seed 2, %.0f s).\n", n, l.populate2.Elapsed.Seconds())
	} else if k := int64(l.LookupKeys); n > k {
		fmt.Fprintf(b, "The origin holds %d narinfos: the %d paths of the lookup cache and %d that the lag runs of\n"+
			"section 1 committed.\n", n, k, n-k)
	} else {
		fmt.Fprintf(b, "The origin holds the %d narinfos of the lookup cache.\n", n)
	}
	b.WriteString("**Edge**: `loadtest bootstrap` starts `narthex edge` on an empty replica and\n" +
		"times it from process start to the first 200 from `/readyz`, then reads its\n" +
		"VmRSS/VmHWM and the replica's size on disk. **Native**: a fresh database on a\n" +
		"second PostgreSQL 15 cluster (default settings) with the three published tables\n" +
		"([loadtest/bench/subscriber.sql](loadtest/bench/subscriber.sql)), then\n" +
		"`CREATE SUBSCRIPTION … WITH (copy_data = true)`, timed from just before that\n" +
		"statement until every row of `pg_subscription_rel` for it is in state `r`\n" +
		"(polled every 50 ms); its narinfo count is then checked against the origin's.\n" +
		"Disk for native is `pg_total_relation_size` of the three tables.\n\n")
	edgeReady, nativeReady := l.bootEdgeFig(bootReady), l.bootNativeFig(func(n nativeBoot) float64 { return n.ReadyAfter })
	e, nat := medianOf(edgeReady), medianOf(nativeReady)
	ed, nd := medianOf(l.bootEdgeFig(bootDisk)), medianOf(l.bootNativeFig(func(n nativeBoot) float64 { return n.Disk }))
	b.WriteString("| | edge | native subscriber | edge ÷ native |\n|---|---|---|---|\n")
	fmt.Fprintf(b, "| time to ready | %s | %s | %s |\n", fns(e), fns(nat), fratio(e, nat))
	fmt.Fprintf(b, "| time to ready, each run | %s | %s | |\n", fjoin(edgeReady, fns), fjoin(nativeReady, fns))
	fmt.Fprintf(b, "| RSS once ready | %s | – | |\n", fbytes(medianOf(l.bootEdgeFig(bootRSS))))
	fmt.Fprintf(b, "| peak RSS (VmHWM) | %s | – | |\n", fbytes(medianOf(l.bootEdgeFig(bootPeak))))
	fmt.Fprintf(b, "| on disk | %s | %s | %s |\n\n", fbytes(ed), fbytes(nd), fratio(ed, nd))
	b.WriteString("Why the subscriber does not use `narthex migrate`: the migrated `narinfo` has\n" +
		"NOT NULL columns the publication does not carry (`name`, `nar_hash`,\n" +
		"`nar_size`), so every applied row would fail a not-null constraint, and\n" +
		"`payload_location` has a foreign key to `nar_file`, which is not published.\n" +
		"The subscriber gets what an edge gets: the published columns and primary keys.\n\n")
	b.WriteString("Commands (repetition 1):\n\n")
	r.writeCommandBlock(b, []string{"boot-edge-1", "native-schema-1", "native-boot-1"},
		"# then poll until ready:",
		"#   SELECT count(*) FILTER (WHERE srsubstate <> 'r') FROM pg_subscription_rel r",
		"#   JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = 'boot_1'")
}

// writeCommandBlock writes the commands of the given run ids as a shell
// block, then the extra lines as they are.
func (r *BenchResults) writeCommandBlock(b *bytes.Buffer, ids []string, extra ...string) {
	b.WriteString("```sh\n")
	for _, id := range ids {
		if c, ok := r.commands[id]; ok {
			b.WriteString(c + "\n")
		}
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("```\n\n")
}
