package loadtest

import (
	"bytes"
	"fmt"
)

// ingestFig is the wall time of every `nix copy` of the kind of closure to
// target, in the order of the run.
func (l *benchLater) ingestFig(kind, target string) []float64 {
	var v []float64
	for _, r := range l.ingest {
		if r.Kind == kind && r.Target == target {
			v = append(v, r.NS)
		}
	}
	return v
}

func (l *benchLater) ingestMedian(kind, target string) float64 {
	return medianOf(l.ingestFig(kind, target))
}

// writeIngest writes section 5: `nix copy` to the origin, to file:// and
// to a sink.
func (r *BenchResults) writeIngest(b *bytes.Buffer, l *benchLater) {
	b.WriteString("## 5. Ingest with the real Nix client: origin vs file://\n\n")
	fmt.Fprintf(b, "Two closures of %d input-addressed paths\n"+
		"([loadtest/bench/closure.nix](loadtest/bench/closure.nix): path i refers to paths i-1\n"+
		"and i/2): **tiny** paths of one line of text each, and paths with a **payload**\n"+
		"of %d KiB of base64 text each (from /dev/urandom; xz shrinks it to about\n"+
		"three quarters), built with `nix-build` into a `local?root=` store (Nix %s, no\n"+
		"daemon, the nix.conf of internal/nixtest/nixtest.go), then `nix copy` of the same closure\n"+
		"to the origin of `narthex dev` (with its netrc) and to a fresh `file://`\n"+
		"folder, each with a fresh `XDG_CACHE_HOME`; both compress NARs with xz (Nix's\n"+
		"default). The tiny closure also goes to a **sink**, `loadtest ceiling --sink`: an\n"+
		"empty cache that answers every PUT 200 at once and keeps nothing, so its time is\n"+
		"the Nix client's own cost of an HTTP upload. Each repetition builds new closures\n"+
		"(a new salt) so every target starts without any of their paths, and rotates\n"+
		"which target goes first. Each upload was checked: %d narinfos in the\n"+
		"origin database / the folder.\n\n", l.IngestPaths, l.IngestSize>>10, r.Facts.Nix, l.IngestPaths)
	b.WriteString("| closure | target | wall time | per path | each run |\n|---|---|---|---|---|\n")
	for _, kind := range []string{"payload", "tiny"} {
		for _, target := range []string{"origin", "file", "sink"} {
			v := l.ingestFig(kind, target)
			if len(v) == 0 {
				continue
			}
			m := medianOf(v)
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", kind, target, fns(m), fns(m/float64(l.IngestPaths)), fjoin(v, fns))
		}
	}
	tf := l.ingestMedian("tiny", "file")
	b.WriteString("\n| closure | origin ÷ file:// | sink ÷ file:// |\n|---|---|---|\n")
	fmt.Fprintf(b, "| payload | %s | |\n", fratio(l.ingestMedian("payload", "origin"), l.ingestMedian("payload", "file")))
	fmt.Fprintf(b, "| tiny | %s | %s |\n\n", fratio(l.ingestMedian("tiny", "origin"), tf), fratio(l.ingestMedian("tiny", "sink"), tf))
	p := l.ingestPut
	b.WriteString("Nix uploads a path only once the paths it refers to are in the target, and in\n" +
		"these closures path i refers to path i-1, so the uploads go one at a time and\n" +
		"every round trip counts: for each path Nix 2.8 sends a `HEAD` of the NAR file\n" +
		"(a 404: is it there already?), `PUT nar/…`, then `PUT …narinfo`, each PUT\n" +
		"after an `Expect: 100-continue` round trip. With tiny paths the client's own\n" +
		"HTTP round trips already cost more than `file://` (the sink row), before the\n" +
		"origin does anything; the origin then adds what an acknowledged upload needs:\n" +
		"the NAR file written and fsynced with its folder, and a committed\n" +
		"transaction, for each of the two PUTs (`file://` writes without fsync). With\n" +
		"payloads, compressing and hashing the paths, the work both targets share, is\n" +
		"most of the time. What the origin takes per upload,\n" +
		"from `loadtest ingest` with one upload in flight and 512-byte NARs, after the\n")
	fmt.Fprintf(b, "Nix runs: %d uploads, %d errors, %d/s;\n", p.Succeeded, p.Errors, int64(p.PerSec))
	fmt.Fprintf(b, "both PUTs p50 %s, p99 %s;\n", fns(float64(p.Upload.P50)), fns(float64(p.Upload.P99)))
	fmt.Fprintf(b, "`PUT nar/…` p50 %s; `PUT …narinfo` p50 %s.\n\n", fns(float64(p.Nar.P50)), fns(float64(p.Narinfo.P50)))
	b.WriteString("Commands (repetition 1):\n\n")
	r.writeCommandBlock(b, []string{"ingest-build-payload-1", "ingest-payload-origin-1", "ingest-payload-file-1",
		"ingest-build-tiny-1", "sink", "ingest-tiny-sink-1", "ingest-put"})
}
