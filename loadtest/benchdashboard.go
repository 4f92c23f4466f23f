package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// targetDashboardQuery is the longest a dashboard query may take on the
// year of counts section 9 writes.
const targetDashboardQuery = 200 * time.Millisecond

// dashboardHeading starts section 9.
const dashboardHeading = "## 9. Dashboard"

// readBenchDashboard reads section 9 from dir; nil when the run did not
// make it (no dashboard.json).
func readBenchDashboard(dir string) (*DashboardResult, error) {
	b, err := os.ReadFile(filepath.Join(dir, "dashboard.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench results: %w", err)
	}
	var d DashboardResult
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("bench results: dashboard.json: %w", err)
	}
	if len(d.Queries) == 0 {
		return nil, errors.New("bench results: dashboard.json times no query")
	}
	return &d, nil
}

// slowest is the query with the longest median.
func (d *DashboardResult) slowest() DashboardTime {
	s := d.Queries[0]
	for _, q := range d.Queries[1:] {
		if q.Median > s.Median {
			s = q
		}
	}
	return s
}

// dashboardTargetRows judges the target of section 9; mark follows the
// verdict (the run that made it, when another run made the rest).
func dashboardTargetRows(d *DashboardResult, mark string) []string {
	c := d.Config
	s := d.slowest()
	return []string{fmt.Sprintf("| every dashboard query < 200 ms on a year of counts (%d paths, %d edges, %d countries, %d days) | slowest median of %d queries: %s, %.1f ms (its slowest run %.1f ms) | %s%s |",
		c.Paths, c.Edges, c.Countries, c.Days, len(d.Queries), s.Query, ms(s.Median), ms(s.Max), yesNo(s.Median < targetDashboardQuery), mark)}
}

func isDashboardTarget(row string) bool { return strings.Contains(row, "every dashboard query") }

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// writeDashboard writes section 9: the dashboard's queries on a year of
// fetch counts.
func (r *BenchResults) writeDashboard(b *bytes.Buffer, d *DashboardResult) {
	f := r.Facts
	b.WriteString(dashboardHeading + " queries on a year of fetch counts\n\n")
	fmt.Fprintf(b, madeBy+"%s (`%s`), commit %s; load averages (1/5/15 min): %s.*\n\n",
		f.Date, f.Command, f.Commit, strings.Join(f.Loads, "; "))
	b.WriteString("`narthex loadtest dashboard` takes an empty database on the PostgreSQL of a\n" +
		"`narthex dev` (default settings), migrates it to the schema before the dashboard's\n" +
		"roll-ups, fills it with a year of counts as the edges' batches would have left them\n" +
		"(paths uploaded evenly over the year; each day, draws of paths for hits and redirects\n" +
		"skewed to a few popular ones, of hashes for misses, requests by client family; every\n" +
		"hour, edge, country and kind in the hourly roll-up; a month of batches, one a minute\n" +
		"per edge), then migrates it to the newest schema, which builds the dashboard's\n" +
		"roll-ups from those counts, and runs `VACUUM ANALYZE`. Each query behind the\n" +
		"dashboard's panels then runs once to warm the cache and again for the timed runs,\n" +
		"through the same functions the page and `/api/stats/` call, over one connection:\n" +
		"wall time from the call to the last row read.\n\n")
	d.WriteTable(b)
	b.WriteString("\n")
	r.writeCommandBlock(b, []string{"setup-dashboard-dev", "setup-dashboard-database", "dashboard"})
}

// dashboardSolo is section 9 as a run that made it alone writes it.
func (r *BenchResults) dashboardSolo() (solo, error) {
	d := r.dashboard
	if d == nil {
		return solo{}, errors.New("bench results: a dashboard-only run without dashboard.json")
	}
	return solo{
		number:   "9",
		heading:  dashboardHeading,
		write:    func(b *bytes.Buffer) { r.writeDashboard(b, d) },
		rows:     dashboardTargetRows(d, " (run of "+r.Facts.Date+")"),
		isTarget: isDashboardTarget,
	}, nil
}
