package loadtest

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// table is a human-readable report: a title, then aligned columns.
type table struct {
	title string
	rows  [][]string
}

// newTable makes a table; without header cells it has no header row.
func newTable(title string, header ...string) *table {
	t := &table{title: title}
	if len(header) > 0 {
		t.rows = append(t.rows, header)
	}
	return t
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the title and the rows, columns aligned.
func (t *table) write(w io.Writer) error {
	if t.title != "" {
		if _, err := fmt.Fprintf(w, "%s\n", t.title); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range t.rows {
		if _, err := fmt.Fprintf(tw, "  %s\n", strings.Join(r, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// writeTables writes tables one after another, a blank line between.
func writeTables(w io.Writer, tables ...*table) error {
	for i, t := range tables {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	return nil
}

// fmtDuration shows d with three significant digits: 23.4µs, 1.52ms, 2.00s.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	default:
		return sig3(float64(d)/1e9) + "s"
	}
}

// sig3 formats v (at least 1) with three significant digits.
func sig3(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// fmtRate shows a per-second rate without false precision.
func fmtRate(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }

// fmtBytes shows a size in binary units.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return sig3(v) + " " + []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}
