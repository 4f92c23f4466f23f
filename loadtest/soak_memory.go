package loadtest

import (
	"context"
	"slices"
	"time"
)

// The survivor's memory is flat when the median RSS of the soak's last
// window exceeds that of the window after the warm-up by no more than
// rssGrowthShare of it or rssGrowthSlack, whichever is larger.
const (
	rssGrowthShare = 0.10
	rssGrowthSlack = 16 << 20
)

// sampleMemory reads the survivor's RSS every MemoryEvery until the end.
func (r *soakRun) sampleMemory(ctx context.Context) SoakMemory {
	var samples []RSSSample
	for at := r.start; !at.After(r.end); at = at.Add(r.cfg.MemoryEvery) {
		select {
		case <-ctx.Done():
			return summarizeRSS(samples, r.cfg.Duration, r.cfg.MemoryEvery)
		case <-time.After(time.Until(at)):
		}
		rss, _, err := processMemory(r.survivor.cmd.Process.Pid)
		if err == nil {
			samples = append(samples, RSSSample{At: time.Since(r.start), RSS: rss})
		}
	}
	return summarizeRSS(samples, r.cfg.Duration, r.cfg.MemoryEvery)
}

// summarizeRSS judges the samples of a run of duration d.
func summarizeRSS(samples []RSSSample, d, every time.Duration) SoakMemory {
	w := min(time.Minute, d/5)
	m := SoakMemory{Every: every, Window: w, Samples: samples}
	median := func(from, to time.Duration) int64 {
		var v []int64
		for _, s := range samples {
			if s.At >= from && s.At < to {
				v = append(v, s.RSS)
			}
		}
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m.WarmupMedian = median(0, w)
	m.BaselineMedian = median(w, 2*w)
	m.LastMedian = median(d-w, d+every)
	for _, s := range samples {
		m.Max = max(m.Max, s.RSS)
	}
	m.Limit = m.BaselineMedian + max(int64(rssGrowthShare*float64(m.BaselineMedian)), rssGrowthSlack)
	m.Flat = m.BaselineMedian > 0 && m.LastMedian > 0 && m.LastMedian <= m.Limit
	return m
}
