package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The targets of section 8.
const (
	targetRedirectShare = 0.9 // NAR redirects/s at least this share of the redirect ceiling's
	targetBackfillShare = 0.8 // backfill files/s (small) and bytes/s (large) at least this share of rclone's
)

// storesSettings are the settings of section 8, as bench.sh wrote them into
// stores.json.
type storesSettings struct {
	Quick        int    `json:"quick"`
	Reps         int    `json:"reps"`        // of each backfill
	LookupReps   int    `json:"lookup_reps"` // of each redirect run
	Duration     string `json:"duration"`    // of each redirect run
	RedirectKeys int    `json:"redirect_keys"`
	Jobs         int    `json:"jobs"`
	Small        int    `json:"small"` // payloads of 1-64 KiB
	Large        int    `json:"large"` // payloads of LargeSize
	LargeSize    string `json:"large_size"`
	Rclone       string `json:"rclone"` // `rclone version`, first line
	Location     string `json:"location"`
	ImportPaths  int    `json:"import_paths"`
	ImportSize   string `json:"import_size"`
	Nix          string `json:"nix"`
}

// importRun is one line of import.jsonl: one client's upload of a
// synthetic file:// cache into the origin, timed by bench.sh.
type importRun struct {
	Tool  string  `json:"tool"` // narthex or nix
	Rep   int     `json:"rep"`
	NS    float64 `json:"ns"`
	Paths int64   `json:"paths"`
	Bytes int64   `json:"bytes"` // of its NAR files
}

// backfillRun is one line of backfill.jsonl: one tool's copy of one set of
// payloads into an empty bucket, timed by bench.sh.
type backfillRun struct {
	Set   string  `json:"set"`  // small or large
	Tool  string  `json:"tool"` // maintain or rclone
	Rep   int     `json:"rep"`
	NS    float64 `json:"ns"`
	Files int64   `json:"files"`
	Bytes int64   `json:"bytes"`
}

// benchStores are the raw results of section 8.
type benchStores struct {
	storesSettings
	redirects *BenchResults // the cells of redirects.jsonl
	bench     string        // stores-edge-bench.txt
	backfill  []backfillRun
	imports   []importRun // none when the run made no import
}

// readBenchStores reads section 8 from dir; nil when the run did not make
// it (no stores.json).
func readBenchStores(dir string) (*benchStores, error) {
	b, err := os.ReadFile(filepath.Join(dir, "stores.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench results: %w", err)
	}
	s := &benchStores{}
	if err := json.Unmarshal(b, &s.storesSettings); err != nil {
		return nil, fmt.Errorf("bench results: stores.json: %w", err)
	}
	cells, err := readRunCells(filepath.Join(dir, "redirects.jsonl"))
	if err != nil {
		return nil, err
	}
	s.redirects = &BenchResults{cells: cells}
	rd := reader{dir: dir}
	s.bench = rd.text("stores-edge-bench.txt")
	rd.lines("backfill.jsonl", func(line []byte) error {
		var run backfillRun
		err := json.Unmarshal(line, &run)
		s.backfill = append(s.backfill, run)
		return err
	})
	if rd.exists("import.jsonl") {
		rd.lines("import.jsonl", func(line []byte) error {
			var run importRun
			err := json.Unmarshal(line, &run)
			s.imports = append(s.imports, run)
			return err
		})
	}
	if rd.err != nil {
		return nil, fmt.Errorf("bench results: %w", rd.err)
	}
	return s, nil
}

// redirect is the median of f over the redirect runs of generator g on
// server.
func (s *benchStores) redirect(g, server string, f func(benchCell) float64) float64 {
	v, ok := s.redirects.median(cellQuery{"redirect", "hits", "c64", g, server}, f)
	if !ok {
		return missing
	}
	return v
}

// backfillMedian is f of the backfills of set by tool: the files and
// bytes of the set (the same in every run), in the median time.
func (s *benchStores) backfillMedian(set, tool string, f func(backfillRun) float64) float64 {
	var ns []float64
	var m backfillRun
	for _, run := range s.backfill {
		if run.Set == set && run.Tool == tool {
			ns = append(ns, run.NS)
			m = run
		}
	}
	m.NS = medianOf(ns)
	return f(m)
}

func backfillNS(r backfillRun) float64    { return r.NS }
func backfillBytes(r backfillRun) float64 { return float64(r.Bytes) }
func filesPerSec(r backfillRun) float64   { return float64(r.Files) / (r.NS / 1e9) }
func mbPerSec(r backfillRun) float64      { return float64(r.Bytes) / 1e6 / (r.NS / 1e9) }

var allocsPerOp = regexp.MustCompile(`\s(\d+) allocs/op`)

// handlerAllocs is the most allocations per redirect of the in-process
// benchmark's runs; missing when it has none.
func (s *benchStores) handlerAllocs() float64 {
	m := missing
	for _, match := range allocsPerOp.FindAllStringSubmatch(s.bench, -1) {
		n, _ := strconv.ParseFloat(match[1], 64)
		m = maxOf([]float64{m, n})
	}
	return m
}

func (s *benchStores) smallLabel() string {
	return fmt.Sprintf("%d payloads of 1-64 KiB", s.Small)
}

func (s *benchStores) largeLabel() string {
	return fmt.Sprintf("%d payloads of %s", s.Large, strings.Replace(s.LargeSize, "MiB", " MiB", 1))
}

// storesTargetRows are the rows of section 8's targets; runOf, when set,
// is appended to each verdict (" (run of <date>)").
func (s *benchStores) storesTargetRows(runOf string) []string {
	var rows []string
	row := func(target, run, met string) {
		rows = append(rows, fmt.Sprintf("| %s | %s | %s%s |", target, run, met, runOf))
	}
	var parts []string
	all, any := true, false
	for _, g := range []string{"lookup", "wrk"} {
		e, c := s.redirect(g, "edge", throughput), s.redirect(g, "ceiling", throughput)
		if e != e || c != c { // NaN: not measured
			continue
		}
		any = true
		all = all && e >= targetRedirectShare*c
		parts = append(parts, fmt.Sprintf("%s: edge %s, ceiling %s: %s", g, frate(e), frate(c), fratio(e, c)))
	}
	met := "–"
	if any {
		met = yesNo(all)
	}
	row("NAR redirects/s ≥ 0.9× the redirect ceiling (GeoIP ranking of two stores, 64 connections)", strings.Join(parts, "; "), met)
	a := s.handlerAllocs()
	row("0 allocations per NAR redirect in the handler benchmark (GeoIP ranking)",
		fmt.Sprintf("%s allocs/op (`BenchmarkServer_NarRedirect/geoip`)", frate(a)), verdict(a == 0, a))
	ms, rs := s.backfillMedian("small", "maintain", filesPerSec), s.backfillMedian("small", "rclone", filesPerSec)
	row(fmt.Sprintf("backfill into S3 ≥ 0.8× `rclone copy` (%s, %d in parallel)", s.smallLabel(), s.Jobs),
		fmt.Sprintf("maintain %s files/s, rclone %s files/s: %s", frate(ms), frate(rs), fratio(ms, rs)),
		verdict(ms >= targetBackfillShare*rs, ms, rs))
	ml, rl := s.backfillMedian("large", "maintain", mbPerSec), s.backfillMedian("large", "rclone", mbPerSec)
	row(fmt.Sprintf("backfill into S3 ≥ 0.8× `rclone copy` (%s, %d in parallel)", s.largeLabel(), s.Jobs),
		fmt.Sprintf("maintain %s MB/s, rclone %s MB/s: %s", frate(ml), frate(rl), fratio(ml, rl)),
		verdict(ml >= targetBackfillShare*rl, ml, rl))
	return rows
}

// isStoresTarget tells the rows storesTargetRows writes.
func isStoresTarget(row string) bool {
	return strings.Contains(row, "NAR redirect") || strings.Contains(row, "backfill into S3")
}

// storesHeading starts section 8.
const storesHeading = "## 8. Stores"

// writeStores writes section 8: NAR redirects and backfills.
func (r *BenchResults) writeStores(b *bytes.Buffer, s *benchStores) {
	f := r.Facts
	b.WriteString(storesHeading + ": NAR redirects and backfills\n\n")
	fmt.Fprintf(b, madeBy+"%s (`%s`), commit %s; load averages (1/5/15 min): %s.*\n\n",
		f.Date, f.Command, f.Commit, strings.Join(f.Loads, "; "))
	if s.Quick == 1 {
		b.WriteString("A quick run: fewer and smaller payloads than the targets name, and each backfill once.\n\n")
	}
	b.WriteString("### NAR redirects: edge with GeoIP ranking vs the redirect ceiling\n\n")
	fmt.Fprintf(b, "An origin of its own holds %d NAR files (`loadtest locations`), each with a copy in two\n"+
		"http stores, one at Frankfurt's coordinates and one at Singapore's. A `narthex edge` with\n"+
		"`--geoip-db` (a City database from `loadtest geoip` that places 127.1.0.0/16 in Frankfurt)\n"+
		"ranks the copies by distance from the client and answers `GET /nar/<hash>.nar` with a 302\n"+
		"to the nearest. `narthex loadtest lookup --nar` connects from 127.1.0.1 (`--source`) and\n"+
		"checks that every answer is a 302 to the Frankfurt store (`--want-location`). wrk cannot\n"+
		"choose its source address: it connects from 127.0.0.1, which the edge trusts as a proxy\n"+
		"(`--trusted-proxies 127.0.0.1/32`), and names its client in `X-Forwarded-For: 127.1.0.1`,\n"+
		"so the edge also reads that header; wrk counts a 302 as right without seeing where it\n"+
		"points. The ceiling, `narthex loadtest ceiling --redirect`, is a bare fasthttp server\n"+
		"configured as the edge's that answers every request with a 302 of the same bytes\n"+
		"(`Location: %s`), ranking nothing. 64 connections, closed loop, %s per\n"+
		"server, the servers taking turns; median of %d runs.\n\n", s.RedirectKeys, s.Location, s.Duration, s.LookupReps)
	b.WriteString("| generator | req/s edge | ceiling | edge ÷ ceiling | CPU/answer edge | ceiling | edge ÷ ceiling CPU | p50 / p99 edge | ceiling | wrong answers edge / ceiling |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	var cmds []string
	for _, g := range []string{"lookup", "wrk"} {
		et, ct := s.redirect(g, "edge", throughput), s.redirect(g, "ceiling", throughput)
		if et != et {
			continue
		}
		ec, cc := s.redirect(g, "edge", cpuPerReq), s.redirect(g, "ceiling", cpuPerReq)
		lat := func(server string) string {
			return fns(s.redirect(g, server, p50)) + " / " + fns(s.redirect(g, server, p99))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", benchGenerator[g], frate(et), frate(ct), fratio(et, ct),
			fns(ec), fns(cc), fratio(ec, cc), lat("edge"), lat("ceiling"),
			frate(s.redirect(g, "edge", wrong)), frate(s.redirect(g, "ceiling", wrong)))
		cmds = append(cmds, "redirect-"+g+"-1")
	}
	b.WriteString("\n")
	r.writeCommandBlock(b, cmds)
	a := s.handlerAllocs()
	fmt.Fprintf(b, "The redirect handler in process, without the network (`go test -bench`; the edge's own\n"+
		"benchmark: two stores ranked by GeoIP for a client in Europe, the copies from the replica's\n"+
		"memory cache): %s allocations per redirect at most.\n\n```\n%s\n```\n\n", frate(a), benchLines(s.bench))
	r.writeCommandBlock(b, []string{"stores-edge-bench"})

	b.WriteString("### Backfill into S3: `narthex stores maintain` vs `rclone copy`\n\n")
	fmt.Fprintf(b, "versitygw v1.8.0 with its posix backend on loopback is the S3 server. Two sets of payloads\n"+
		"of random bytes (sizes and bytes seeded) are written into a local store's directory and\n"+
		"recorded at the origin (`loadtest payloads`): %s, and %s. Each tool copies\n"+
		"a set from that directory into an empty bucket of its own on the same server, %d files at\n"+
		"once: `narthex stores maintain --once --store <s3 store> --jobs %d --verify-sample 0`, the\n"+
		"store added with `--populate`, and `rclone copy <dir> bs3:<bucket> --transfers %d --checkers %d`\n"+
		"(%s; an S3 remote of provider Other by environment, path style) with\n"+
		"`--no-check-dest` and `--s3-no-check-bucket`, since the bucket is empty, and\n"+
		"`--s3-disable-checksum`. What differs: maintenance reads every file it copies once,\n"+
		"hashing it with SHA-256 as it uploads and refusing a copy whose hash is not the file's,\n"+
		"and records each copy in PostgreSQL; rclone otherwise uploads with its defaults, single\n"+
		"part below its 200 MiB cutoff. Each copy is timed by the script, from the command's start\n"+
		"to its end, and checked afterwards (the store's good locations, `rclone size`): every\n"+
		"file, every byte. Median of %d run(s); the tools take turns.\n\n",
		s.smallLabel(), s.largeLabel(), s.Jobs, s.Jobs, s.Jobs, s.Jobs, s.Rclone, s.Reps)
	b.WriteString("| payloads | bytes | maintain | files/s | MB/s | rclone | files/s | MB/s | maintain ÷ rclone |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, set := range []string{"small", "large"} {
		label := s.smallLabel()
		if set == "large" {
			label = s.largeLabel()
		}
		bytes := s.backfillMedian(set, "maintain", backfillBytes)
		mt, rt := s.backfillMedian(set, "maintain", backfillNS), s.backfillMedian(set, "rclone", backfillNS)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label, fbytes(bytes), fns(mt),
			frate(s.backfillMedian(set, "maintain", filesPerSec)), frate(s.backfillMedian(set, "maintain", mbPerSec)), fns(rt),
			frate(s.backfillMedian(set, "rclone", filesPerSec)), frate(s.backfillMedian(set, "rclone", mbPerSec)), fratio(rt, mt))
	}
	b.WriteString("\nTimes are medians; rates are the set's files and bytes over them; maintain ÷ rclone is\nthe ratio of the rates (rclone's time ÷ maintenance's).\n\n")
	r.writeCommandBlock(b, []string{"setup-stores-rclone", "setup-stores-payloads-small", "setup-backfill-small-maintain-1",
		"backfill-small-maintain-1", "backfill-small-rclone-1"})

	s.writeImport(b, r)
	b.WriteString("### Setup of this section\n\n")
	var setup []string
	for _, id := range r.order {
		if strings.HasPrefix(id, "setup-stores-") {
			setup = append(setup, id)
		}
	}
	r.writeCommandBlock(b, setup)
}

// importMedian is the median time of the imports by tool, with the paths
// and bytes of one (every run imports as many).
func (s *benchStores) importMedian(tool string) (ns float64, paths, bytes int64) {
	var v []float64
	for _, run := range s.imports {
		if run.Tool == tool {
			v = append(v, run.NS)
			paths, bytes = run.Paths, run.Bytes
		}
	}
	return medianOf(v), paths, bytes
}

func (s *benchStores) writeImport(b *bytes.Buffer, r *BenchResults) {
	b.WriteString("### Import of a `file://` cache: `narthex import` vs `nix copy`\n\n")
	if len(s.imports) == 0 {
		b.WriteString("Not measured: this run made no import.\n\n")
		return
	}
	fmt.Fprintf(b, "A synthetic binary cache directory as `nix copy --to file://` writes one (`loadtest\n"+
		"filecache`): %d store paths, each an uncompressed NAR of one file of %s of random bytes,\n"+
		"every hash and size right, in chains of ten references; nothing signed. Each client uploads\n"+
		"a cache of its own (another seed) into the origin of this section over HTTP:\n"+
		"`narthex import <dir> --jobs %d`, which hashes every NAR before it uploads it, and\n"+
		"`nix copy --from file://<dir> --to <origin> --no-check-sigs` of every path (Nix %s, its\n"+
		"defaults otherwise). Timed by the script from the command's start to its end; every path\n"+
		"is then counted at the origin. Median of %d run(s); the clients take turns.\n\n",
		s.ImportPaths, s.ImportSize, s.Jobs, s.Nix, s.Reps)
	b.WriteString("| client | paths | NAR bytes | time | paths/s | MB/s |\n|---|---|---|---|---|---|\n")
	var ids []string
	for _, tool := range []string{"narthex", "nix"} {
		ns, paths, bytes := s.importMedian(tool)
		if ns != ns {
			continue
		}
		name := map[string]string{"narthex": "`narthex import`", "nix": "`nix copy`"}[tool]
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %.2f |\n", name, paths, fbytes(float64(bytes)), fns(ns),
			frate(float64(paths)/(ns/1e9)), float64(bytes)/1e6/(ns/1e9))
		ids = append(ids, "setup-stores-filecache-"+tool+"-1", "import-"+tool+"-1")
	}
	n, _, _ := s.importMedian("narthex")
	x, _, _ := s.importMedian("nix")
	fmt.Fprintf(b, "\n`narthex import` ÷ `nix copy` (paths/s): %s.\n\n", fratio(x, n))
	r.writeCommandBlock(b, ids)
}

// storesSolo is section 8 as a run that made it alone writes it.
func (r *BenchResults) storesSolo() (solo, error) {
	s := r.stores
	if s == nil {
		return solo{}, errors.New("bench results: a stores-only run without stores.json")
	}
	return solo{
		number:   "8",
		heading:  storesHeading,
		write:    func(b *bytes.Buffer) { r.writeStores(b, s) },
		rows:     s.storesTargetRows(" (run of " + r.Facts.Date + ")"),
		isTarget: isStoresTarget,
	}, nil
}
