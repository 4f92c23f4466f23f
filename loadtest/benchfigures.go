package loadtest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The figures of sections 2 to 7 are float64s, NaN when the run did not
// make them; every formatter shows a missing figure as "–" and every
// verdict on one as "–".

// missing is a figure the run did not make.
var missing = math.NaN()

// medianOf is the median of the figures v has, missing when it has none.
func medianOf(v []float64) float64 {
	var s []float64
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return missing
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// maxOf is the largest figure of v, missing when it has none.
func maxOf(v []float64) float64 {
	m := missing
	for _, x := range v {
		if !math.IsNaN(x) && (math.IsNaN(m) || x > m) {
			m = x
		}
	}
	return m
}

// fns formats nanoseconds: 427 µs, 2.92 ms, 106.1 ms, 5.63 s.
func fns(ns float64) string {
	switch {
	case math.IsNaN(ns):
		return "–"
	case ns < 1e3:
		return fmt.Sprintf("%d ns", int64(ns))
	case ns < 1e6:
		return fmt.Sprintf("%.0f µs", ns/1e3)
	case ns < 1e7:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns < 1e9:
		return fmt.Sprintf("%.1f ms", ns/1e6)
	default:
		return fmt.Sprintf("%.2f s", ns/1e9)
	}
}

// frate formats a count or a rate as a whole number.
func frate(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// fbytes formats bytes in MiB.
func fbytes(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f MiB", v/(1<<20))
}

// fratio formats a ÷ b: 0.44×.
func fratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// fnum formats a number as JSON would: 0.8, 4.
func fnum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// fjoin formats every figure of v with f, comma-separated.
func fjoin(v []float64, f func(float64) string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = f(x)
	}
	return strings.Join(s, ", ")
}

// verdict is "yes" or "**no**" for a target judged on figures, or "–"
// when one of them is missing.
func verdict(met bool, figures ...float64) string {
	for _, v := range figures {
		if math.IsNaN(v) {
			return "–"
		}
	}
	return yesNo(met)
}
