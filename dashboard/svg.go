package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// The charts are drawn here as inline SVG, so that the page needs nothing
// but itself: no script, no font, no file from another host.

// Chart sizes, in SVG user units (the page scales them to its width).
const (
	chartWidth  = 720
	chartHeight = 180
	chartLeft   = 64 // room for the y axis labels
	chartBottom = 24 // room for the x axis labels
	chartTop    = 8
)

// series is one stacked band of a bar chart.
type series struct {
	name   string
	class  string // CSS class giving its colour
	values []float64
}

// barChart draws stacked bars, one per label, of the series in order,
// with a y axis formatted by unit. Each bar carries a title with its
// figures, so that hovering it tells them.
func barChart(id, title string, labels []string, unit func(float64) string, ss ...series) template.HTML {
	var b strings.Builder
	peak := 0.0
	for i := range labels {
		sum := 0.0
		for _, s := range ss {
			sum += s.values[i]
		}
		peak = math.Max(peak, sum)
	}
	top := niceCeiling(peak)
	plotW := float64(chartWidth - chartLeft)
	plotH := float64(chartHeight - chartBottom - chartTop)
	fmt.Fprintf(&b, `<svg id="%s" class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		id, chartWidth, chartHeight, html.EscapeString(title))
	axes(&b, top, unit)
	n := len(labels)
	slot := plotW / float64(max(n, 1))
	barW := math.Max(slot*0.8, 0.5)
	for i, label := range labels {
		x := float64(chartLeft) + float64(i)*slot + (slot-barW)/2
		y := float64(chartTop) + plotH
		var tip []string
		for _, s := range ss {
			v := s.values[i]
			tip = append(tip, s.name+" "+unit(v))
			if v <= 0 || top == 0 {
				continue
			}
			h := v / top * plotH
			y -= h
			fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f"/>`, s.class, x, y, barW, h)
		}
		fmt.Fprintf(&b, `<rect class="hover" x="%.2f" y="%d" width="%.2f" height="%.2f"><title>%s: %s</title></rect>`,
			float64(chartLeft)+float64(i)*slot, chartTop, slot, plotH, html.EscapeString(label), html.EscapeString(strings.Join(tip, ", ")))
	}
	xLabels(&b, labels, slot)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// lineChart draws values (NaN where there is none) against labels on a
// y axis from 0 to 1, as percentages.
func lineChart(id, title string, labels []string, values []float64) template.HTML {
	var b strings.Builder
	plotW := float64(chartWidth - chartLeft)
	plotH := float64(chartHeight - chartBottom - chartTop)
	fmt.Fprintf(&b, `<svg id="%s" class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		id, chartWidth, chartHeight, html.EscapeString(title))
	axes(&b, 1, percent)
	slot := plotW / float64(max(len(labels), 1))
	var path strings.Builder
	pen := false
	for i, v := range values {
		if math.IsNaN(v) {
			pen = false
			continue
		}
		x := float64(chartLeft) + (float64(i)+0.5)*slot
		y := float64(chartTop) + (1-v)*plotH
		if pen {
			fmt.Fprintf(&path, " L%.2f %.2f", x, y)
		} else {
			fmt.Fprintf(&path, " M%.2f %.2f", x, y)
		}
		pen = true
		fmt.Fprintf(&b, `<circle class="point" cx="%.2f" cy="%.2f" r="2.5"><title>%s: %s</title></circle>`,
			x, y, html.EscapeString(labels[i]), percent(v))
	}
	if path.Len() > 0 {
		fmt.Fprintf(&b, `<path class="line" d="%s"/>`, strings.TrimSpace(path.String()))
	}
	xLabels(&b, labels, slot)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// axes draws the y axis from 0 to top with four grid lines.
func axes(b *strings.Builder, top float64, unit func(float64) string) {
	plotH := float64(chartHeight - chartBottom - chartTop)
	for i := 0; i <= 4; i++ {
		y := float64(chartTop) + plotH - float64(i)/4*plotH
		fmt.Fprintf(b, `<line class="grid" x1="%d" y1="%.2f" x2="%d" y2="%.2f"/>`, chartLeft, y, chartWidth, y)
		fmt.Fprintf(b, `<text class="axis" x="%d" y="%.2f" text-anchor="end">%s</text>`,
			chartLeft-6, y+4, html.EscapeString(unit(top*float64(i)/4)))
	}
}

// xLabels writes at most eight of labels under their slots.
func xLabels(b *strings.Builder, labels []string, slot float64) {
	step := max(1, (len(labels)+7)/8)
	for i := 0; i < len(labels); i += step {
		x := float64(chartLeft) + (float64(i)+0.5)*slot
		fmt.Fprintf(b, `<text class="axis" x="%.2f" y="%d" text-anchor="middle">%s</text>`,
			x, chartHeight-6, html.EscapeString(shortDay(labels[i])))
	}
}

// shortDay is a YYYY-MM-DD label without its year.
func shortDay(s string) string {
	if len(s) == 10 && s[4] == '-' {
		return s[5:]
	}
	return s
}

// niceCeiling is the smallest of 1, 2 or 5 times a power of ten that is
// at least v (0 for 0), so that the axis reads in round numbers.
func niceCeiling(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// count formats a number of requests: 950, 12.3k, 4.5M.
func count(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return trimZero(fmt.Sprintf("%.1f", v/1e9)) + "G"
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e4:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	}
	return fmt.Sprintf("%.0f", v)
}

// bytesIEC formats a number of bytes: 512 B, 1.5 KiB, 3.2 GiB.
func bytesIEC(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return trimZero(fmt.Sprintf("%.1f", v)) + " " + units[i]
}

// percent formats a share from 0 to 1.
func percent(v float64) string { return trimZero(fmt.Sprintf("%.1f", 100*v)) + "%" }

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }
