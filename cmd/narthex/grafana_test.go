package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/origin"
)

// boardPath is the Grafana dashboard deploy/ ships.
const boardPath = "../../deploy/grafana/narthex.json"

// boardQueries returns every PromQL expression of the Grafana dashboard at
// path: each panel's targets (rows' panels too) and each variable's query.
func boardQueries(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var board struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &board); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q has a target without an expression", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(board.Panels)
	for _, v := range board.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var s string
			if err := json.Unmarshal(v.Query, &s); err != nil {
				t.Fatalf("variable query %s: %v", v.Query, err)
			}
			q.Query = s
		}
		exprs = append(exprs, q.Query)
	}
	return exprs
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promLabelVals = regexp.MustCompile(`\blabel_values\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,[^)]*\)`)
	promNumbers   = regexp.MustCompile(`\b\d[0-9a-zA-Z_.]*`) // 0.99, 1e3, 5m, 0x1f
	promIdent     = regexp.MustCompile(`\$?[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
)

// promKeywords are the words of PromQL that name no metric.
var promKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
	"group_left", "group_right", "inf", "nan"}

// metricNames returns the metric names expr (PromQL, or a Grafana
// label_values query) reads: identifiers that are not functions,
// aggregations, keywords, labels, label values, ranges or variables.
func metricNames(expr string) []string {
	var names []string
	for _, m := range promLabelVals.FindAllStringSubmatch(expr, -1) {
		names = append(names, m[1])
	}
	expr = promLabelVals.ReplaceAllString(expr, " ")
	expr = promStrings.ReplaceAllString(expr, " ")
	expr = promNumbers.ReplaceAllString(expr, " ")
	expr = promMatchers.ReplaceAllString(expr, " ")
	expr = promRanges.ReplaceAllString(expr, " ")
	expr = promGrouping.ReplaceAllString(expr, " ")
	for _, id := range promIdent.FindAllString(expr, -1) {
		if strings.HasPrefix(id, "$") || strings.HasSuffix(id, "(") || slices.Contains(promKeywords, strings.ToLower(id)) {
			continue
		}
		names = append(names, id)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`narthex_replication_lag_bytes{instance=~"$edge"}`, []string{"narthex_replication_lag_bytes"}},
		{`histogram_quantile(0.99, sum by (instance, le) (rate(narthex_edge_request_duration_seconds_bucket{route="narinfo"}[$__rate_interval])))`,
			[]string{"narthex_edge_request_duration_seconds_bucket"}},
		{`sum by (instance) (rate(a_total{result="hit"}[5m])) / sum by (instance) (rate(a_total[5m]))`, []string{"a_total"}},
		{`(time() - b_seconds{x="y"}) / 86400 and b_seconds > 0`, []string{"b_seconds"}},
		{`max by (store, kind) (c + d) / on (store) group_left (kind) max by (store) (e > 0) offset 5m`, []string{"c", "d", "e"}},
		{`label_values(narthex_replication_applied_lsn, instance)`, []string{"narthex_replication_applied_lsn"}},
		{`sum(rate(f{a="sum(g)"}[1m])) or vector(0)`, []string{"f"}},
		{`rate(h2_total[1h:5m]) * 1e3`, []string{"h2_total"}},
	} {
		if diff := cmp.Diff(tc.want, metricNames(tc.expr)); diff != "" {
			t.Errorf("metricNames(%q) (-want +got):\n%s", tc.expr, diff)
		}
	}
}

// exportedNames returns the names of the samples and metric families in
// a Prometheus text exposition: a histogram's family name and its
// _bucket, _sum and _count samples.
func exportedNames(exposition string) map[string]bool {
	names := map[string]bool{}
	for line := range strings.Lines(exposition) {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(name)[0]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// Every metric the Grafana dashboard queries is exported by a running
// origin or edge once each has answered a request of each kind: a board
// that queries a metric no binary exports shows an empty panel and nobody
// notices.
func TestGrafanaBoard_QueriesExportedMetrics(t *testing.T) {
	t.Parallel()
	queried := map[string][]string{} // metric -> the expressions that read it
	for _, expr := range boardQueries(t, boardPath) {
		names := metricNames(expr)
		if len(names) == 0 && !strings.Contains(expr, "time()") {
			t.Errorf("no metric found in %q", expr)
		}
		for _, n := range names {
			queried[n] = append(queried[n], expr)
		}
	}
	if len(queried) < 20 {
		t.Fatalf("the board queries %d metrics; the parser missed some", len(queried))
	}

	url := pgtest.NewOriginDatabase(t)
	db, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	token, err := origin.CreateToken(t.Context(), db, "uploader")
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	originBase, edgeBase := fmt.Sprintf("http://127.0.0.1:%d", ports), fmt.Sprintf("http://127.0.0.1:%d", ports+1)
	op := startNarthex(t, "origin", "--listen", strings.TrimPrefix(originBase, "http://"), "--database-url", url,
		"--local-store", tempDir(t), "--maintain-interval", "0")
	op.waitLog(t, "origin listening", time.Minute)

	// An upload of a NAR and its narinfo; the store limits and a running
	// maintenance job, which only the database knows; and a garbage
	// collection, which finds nothing to delete.
	hash, key, _ := uploadPath(t, originBase, token, bytes.Repeat([]byte("nar bytes "), 100))
	if code := startNarthex(t, "gc", "--database-url", url).waitExit(t, time.Minute); code != 0 {
		t.Fatalf("narthex gc exited %d", code)
	}
	for _, q := range []string{
		`UPDATE store SET soft_max_size = 1073741824, max_size = 2147483648`,
		`INSERT INTO store_job (store_id, kind, total, done, bytes) SELECT id, 'verify', 1, 0, 0 FROM store`,
	} {
		if _, err := db.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	startCountingEdge(t, "board", url, tempDir(t), edgeBase, hash)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, r := range []struct {
		base, path string
		code       int
	}{
		{edgeBase, "/" + hash + ".narinfo", 200},
		{edgeBase, "/" + testutil.RandomHash() + ".narinfo", 404},
		{edgeBase, "/" + key, 302},
		{edgeBase, "/nix-cache-info", 200},
		{edgeBase, "/healthz", 200},
		{edgeBase, "/readyz", 200},
		{originBase, "/" + hash + ".narinfo", 200},
		{originBase, "/" + key, 200},
		{originBase, "/nothing", 404},
	} {
		resp, err := client.Get(r.base + r.path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != r.code {
			t.Errorf("GET %s%s = %d, want %d", r.base, r.path, resp.StatusCode, r.code)
		}
	}
	// The edge's first batch of fetch counts reaches the origin database.
	testutil.Eventually(t, "a batch of fetch counts from the edge", edgeWait, func() bool {
		var n int
		return db.QueryRow(t.Context(), `SELECT count(*) FROM fetch_batch WHERE edge = 'board'`).Scan(&n) == nil && n > 0
	})

	exported := map[string]bool{}
	for _, base := range []string{originBase, edgeBase} {
		code, body := getStatus(base + "/metrics")
		if code != 200 {
			t.Fatalf("GET %s/metrics = %d", base, code)
		}
		for n := range exportedNames(body) {
			exported[n] = true
		}
	}
	var missing []string
	for n, exprs := range queried {
		if !exported[n] {
			missing = append(missing, fmt.Sprintf("%s (in %q)", n, exprs[0]))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the Grafana board queries metrics neither the origin nor the edge exports:\n%s", strings.Join(missing, "\n"))
	}
}
