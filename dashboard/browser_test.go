package dashboard

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/narthex-cache/narthex/internal/testutil"
)

// chromium runs headless Chromium on url with args, as root may (no
// sandbox), with nothing reaching beyond loopback, and returns its
// output.
func chromium(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	bin := testutil.Tool(t, "chromium")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}, append(args, url)...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return out
}

// TestPage_InChromium renders the dashboard of the fixture in headless
// Chromium and reads the figures from the DOM it built; it leaves a
// screenshot in test-artifacts/dashboard.png at the top of the module.
func TestPage_InChromium(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := f.serve(t, "")
	url := srv.URL + "/dashboard?days=30"
	doc, err := html.Parse(bytes.NewReader(chromium(t, url, "--dump-dom")))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"total-requests":  "21",
		"total-hits":      "14",
		"total-misses":    "3",
		"hit-ratio":       "82.4%",
		"total-redirects": "4",
		"total-bytes":     "4 MiB",
		"unfetched-count": "1",
		"no-good-copy":    "0",
	} {
		if got := text(byID(doc, id)); got != want {
			t.Errorf("#%s reads %q, want %q", id, got, want)
		}
	}
	rows := func(table string) [][]string {
		var out [][]string
		for _, tr := range all(byID(doc, table), "tr") {
			var cells []string
			for _, td := range all(tr, "td") {
				cells = append(cells, text(td))
			}
			if cells != nil {
				out = append(out, cells)
			}
		}
		return out
	}
	firstCells := func(table string, n int) []string {
		var out []string
		for _, r := range rows(table) {
			if len(r) > n {
				out = append(out, r[n])
			}
		}
		return out
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, " | ") != strings.Join(want, " | ") {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	check("edges", firstCells("edges", 0), []string{"fra", "sin (not registered)"})
	check("edge requests", firstCells("edges", 6), []string{"14", "7"})
	check("edge replication", firstCells("edges", 2), []string{"not streaming", "not streaming"})
	if flush := firstCells("edges", 5); len(flush) != 2 || !strings.HasPrefix(flush[0], "batch 1, ") || !strings.HasPrefix(flush[1], "batch 1, ") {
		t.Errorf("flush state: %q, want batch 1 for both", flush)
	}
	check("countries", firstCells("countries", 0), []string{"DE", "FR", "US"})
	check("country requests", firstCells("countries", 1), []string{"12", "7", "2"})
	check("top paths", firstCells("top-paths", 0), []string{hashB + "-curl-8.5.0", hashA + "-hello-2.12"})
	check("top hits", firstCells("top-paths", 1), []string{"9", "5"})
	check("missed", firstCells("missed-paths", 0), []string{hashM})
	check("unfetched", firstCells("unfetched", 0), []string{hashC + "-unused-1.0"})
	check("clients", firstCells("clients", 0), []string{"nix/2.8.0", "guix", "curl"})
	check("stores", firstCells("stores", 0), []string{"frankfurt eu", "origin"})
	if job := firstCells("stores", 6); len(job) != 2 || !strings.HasPrefix(job[0], "populate: 4 of 10") || job[1] != "idle" {
		t.Errorf("jobs: %q, want populate 4 of 10, idle", job)
	}
	// The chart of requests has a bar for each of the 30 days, today's
	// telling its figures.
	bars := all(byID(doc, "chart-requests"), "title")
	if len(bars) != 30 || !strings.Contains(text(bars[29]), "hits 7, misses 3, NAR and other 4") {
		t.Errorf("request chart: %d bars, the last %q", len(bars), text(bars[len(bars)-1]))
	}

	dir, err := filepath.Abs(filepath.Join("..", "test-artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	chromium(t, url, "--screenshot="+shot, "--window-size=1200,2000", "--hide-scrollbars")
	if st, err := os.Stat(shot); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot of the dashboard: %s", shot)
}

// byID finds the element with id below n, failing when there is none.
func byID(n *html.Node, id string) *html.Node {
	var found *html.Node
	walk(n, func(m *html.Node) {
		for _, a := range m.Attr {
			if a.Key == "id" && a.Val == id && found == nil {
				found = m
			}
		}
	})
	if found == nil {
		return &html.Node{Type: html.ElementNode, Data: "missing #" + id}
	}
	return found
}

// all lists the elements named tag below n, in document order.
func all(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	walk(n, func(m *html.Node) {
		if m.Type == html.ElementNode && m.Data == tag {
			out = append(out, m)
		}
	})
	return out
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

// text is n's text with its spaces collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(m *html.Node) {
		if m.Type == html.TextNode {
			b.WriteString(m.Data)
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}
