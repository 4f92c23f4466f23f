package loadtest

import (
	"math"
	"testing"
)

func TestMedianOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		v    []float64
		want float64
	}{
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"one", []float64{7}, 7},
		{"missing figures left out", []float64{5, missing, 1, missing, 3}, 3},
	} {
		if got := medianOf(tc.v); got != tc.want {
			t.Errorf("%s: medianOf(%v) = %v, want %v", tc.name, tc.v, got, tc.want)
		}
	}
	for _, v := range [][]float64{nil, {missing}} {
		if got := medianOf(v); !math.IsNaN(got) {
			t.Errorf("medianOf(%v) = %v, want missing", v, got)
		}
	}
}

func TestFigureFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{fns(427e3), "427 µs"},
		{fns(2.918e6), "2.92 ms"},
		{fns(106.1e6), "106.1 ms"},
		{fns(5.63e9), "5.63 s"},
		{fns(812), "812 ns"},
		{fns(missing), "–"},
		{frate(999.6), "1000"},
		{frate(missing), "–"},
		{fbytes(165 << 20), "165 MiB"},
		{fbytes(missing), "–"},
		{fratio(5.63, 12.94), "0.44×"},
		{fratio(1, 0), "–"},
		{fratio(missing, 1), "–"},
		{fratio(1, missing), "–"},
		{fnum(0.8), "0.8"},
		{fjoin([]float64{1e9, missing}, fns), "1.00 s, –"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		met     bool
		figures []float64
		want    string
	}{
		{"met", true, []float64{1, 2}, "yes"},
		{"not met", false, []float64{1, 2}, "**no**"},
		{"a figure missing", false, []float64{1, missing}, "–"},
		{"a figure missing though met", true, []float64{missing}, "–"},
	} {
		if got := verdict(tc.met, tc.figures...); got != tc.want {
			t.Errorf("%s: verdict = %q, want %q", tc.name, got, tc.want)
		}
	}
}
