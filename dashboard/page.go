package dashboard

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"
)

//go:embed page.html
var pageSource string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"count":   func(v int64) string { return count(float64(v)) },
	"bytes":   func(v int64) string { return bytesIEC(float64(v)) },
	"percent": percent,
	"ratio": func(t Traffic) string {
		if r := t.HitRatio(); r >= 0 {
			return percent(r)
		}
		return "–"
	},
	"ago": func(now time.Time, t *time.Time) string {
		if t == nil {
			return "never"
		}
		return ago(now.Sub(*t))
	},
	"deref":  func(v *int64) int64 { return *v },
	"derefF": func(v *float64) float64 { return *v },
	"date":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
	"share": func(part, whole int64) float64 {
		if whole <= 0 {
			return 0
		}
		return math.Min(1, float64(part)/float64(whole))
	},
}).Parse(pageSource))

// pageData is everything the page shows.
type pageData struct {
	Now       time.Time
	Days      int
	Windows   []int
	Window    Window
	Total     Day
	Requests  template.HTML // chart of requests per day
	HitRatio  template.HTML // chart of the hit ratio per day
	Bytes     template.HTML // chart of bytes redirected per day
	Edges     []Edge
	Countries []Country
	Top       []Key
	Missed    []Key
	Through   string
	Unfetched Unfetched
	Clients   []Client
	Stores    StoreUsage
	GC        Collections
}

// gcRunsShown is how many collections the page lists.
const gcRunsShown = 5

// servePage renders the dashboard over the window of p.days.
func (h *Handler) servePage(ctx context.Context, w http.ResponseWriter, p params) error {
	d := pageData{Now: h.cfg.Now(), Days: p.days, Windows: Windows}
	d.Window = LastDays(d.Now, p.days)
	days, err := Overview(ctx, h.cfg.DB, d.Window, "")
	if err != nil {
		return err
	}
	d.Total = total(days)
	d.Requests, d.HitRatio, d.Bytes = overviewCharts(days)
	if d.Edges, err = Edges(ctx, h.cfg.DB, d.Window); err != nil {
		return err
	}
	if d.Countries, err = Countries(ctx, h.cfg.DB, d.Window); err != nil {
		return err
	}
	if d.Top, err = Top(ctx, h.cfg.DB, KindHit, p.days, DefaultTop); err != nil {
		return err
	}
	if d.Missed, err = Top(ctx, h.cfg.DB, KindMiss, p.days, DefaultTop); err != nil {
		return err
	}
	through, err := WindowsThrough(ctx, h.cfg.DB)
	if err != nil {
		return err
	}
	d.Through = through.Format(time.DateOnly)
	if d.Unfetched, err = NeverFetched(ctx, h.cfg.DB, DefaultTop); err != nil {
		return err
	}
	if d.Clients, err = Clients(ctx, h.cfg.DB, d.Window); err != nil {
		return err
	}
	if d.Stores, err = Stores(ctx, h.cfg.DB); err != nil {
		return err
	}
	if d.GC, err = GarbageCollections(ctx, h.cfg.DB, gcRunsShown); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := page.Execute(&b, d); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// Nothing but the page itself: no script runs, nothing loads from
	// elsewhere.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b.Bytes())
	return err
}

// overviewCharts draws the requests, the hit ratio and the bytes
// redirected of each day.
func overviewCharts(days []Day) (requests, hitRatio, bytesOut template.HTML) {
	labels := make([]string, len(days))
	hits, misses, other, ratio, sent := make([]float64, len(days)), make([]float64, len(days)),
		make([]float64, len(days)), make([]float64, len(days)), make([]float64, len(days))
	for i, d := range days {
		labels[i] = d.Day
		hits[i], misses[i] = float64(d.Hits), float64(d.Misses)
		other[i] = float64(max(0, d.Requests-d.Hits-d.Misses))
		ratio[i] = math.NaN()
		if d.HitRatio != nil {
			ratio[i] = *d.HitRatio
		}
		sent[i] = float64(d.Bytes)
	}
	requests = barChart("chart-requests", "Requests per day", labels, count,
		series{"hits", "hit", hits}, series{"misses", "miss", misses}, series{"NAR and other", "other", other})
	hitRatio = lineChart("chart-hit-ratio", "Narinfo hit ratio per day", labels, ratio)
	bytesOut = barChart("chart-bytes", "Bytes redirected per day", labels, bytesIEC,
		series{"bytes", "bytes", sent})
	return requests, hitRatio, bytesOut
}

// ago says how long ago a span was, roughly.
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", d/time.Minute)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", d/time.Hour)
	}
	return fmt.Sprintf("%d days ago", d/(24*time.Hour))
}
