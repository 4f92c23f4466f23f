package loadtest

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

func durNS(d time.Duration) float64 { return float64(d) }

// soakSummary is the soak's row of the Targets table.
func (l *benchLater) soakSummary() string {
	s := l.soak
	var asked int64
	if s.Measure != nil {
		asked += s.Measure.Requests
	}
	if s.Lookups != nil {
		asked += s.Lookups.Requests
	}
	out := fmt.Sprintf("%s, victim killed %d times: %d failed lookups of %d; lost transactions %d / %d, torn %d / %d (survivor / victim) of %d; RSS %s → %s",
		fns(durNS(s.Duration)), len(s.Restarts), s.FailedLookups, asked, s.Survivor.Lost, s.Victim.Lost,
		s.Survivor.Torn.Torn, s.Victim.Torn.Torn, s.Transactions,
		fbytes(float64(s.Memory.BaselineMedian)), fbytes(float64(s.Memory.LastMedian)))
	if !s.Passed {
		out += "; " + strings.Join(s.Failures, "; ")
	}
	return out
}

// soakRSSTrace is the survivor's RSS in MiB about every half window: the
// first sample at or after each step.
func soakRSSTrace(s SoakResult) string {
	step := s.Memory.Window / 2
	if step <= 0 {
		return "–"
	}
	var v []string
	for i := time.Duration(0); i <= s.Duration/step; i++ {
		for _, m := range s.Memory.Samples {
			if m.At >= i*step {
				v = append(v, fmt.Sprint(m.RSS>>20))
				break
			}
		}
	}
	return strings.Join(v, ", ")
}

// writeSoak writes section 6: the soak's checks and figures.
func (r *BenchResults) writeSoak(b *bytes.Buffer, l *benchLater) {
	s := l.soak
	measure, lookups := s.Measure, s.Lookups
	if measure == nil {
		measure = &LookupResult{}
	}
	if lookups == nil {
		lookups = &LookupResult{}
	}
	b.WriteString("## 6. Soak\n\n")
	fmt.Fprintf(b, "`loadtest soak` starts two edges of the %d-narinfo origin on its own\n"+
		"(a survivor and a victim, each a `narthex edge` process bootstrapped from\n"+
		"scratch), commits transactions of 1 to 4 new paths at the origin on a fixed\n"+
		"schedule of %s/s over %d connections, measures the survivor's maximum\n"+
		"mixed lookup throughput under those commits (closed loop, 64 connections, hit\n"+
		"ratio 0.5, keys: %d paths of seed %d), then for %s sends it lookups\n"+
		"at %s of that maximum in an open loop while the commits go on, and SIGKILLs the victim every\n"+
		"%s and restarts it on the same replica and port. Checks: every lookup of the\n"+
		"survivor answered right (a hit 200, a miss 404; anything else or no answer is\n"+
		"a failure); every path of every committed transaction found on both edges\n"+
		"after the run (each path asked for once, within a grace period); no\n"+
		"transaction seen torn (for sampled transactions of several paths, as they are\n"+
		"acknowledged, the first path is probed until it shows, then every other path:\n"+
		"one missing then is torn, since paths never disappear; samples during which the\n"+
		"victim was killed are not judged); the survivor's RSS median in the last\n"+
		"window within 10%% (or 16 MiB) of the window after the warm-up (windows of\n"+
		"%s); no restart of the victim needing a new bootstrap (its log, all\n"+
		"processes: one \"bootstrap started\").\n\n",
		l.OriginNarinfos, frate(s.CommitRate), s.CommitConnections, l.BigKeys, l.BigSeed, fns(durNS(s.Duration)),
		fnum(s.LookupShare), fns(durNS(s.KillEvery)), fns(durNS(s.Memory.Window)))
	if s.Passed {
		b.WriteString("**Result: passed.**\n\n")
	} else {
		fmt.Fprintf(b, "**Result: FAILED: %s.**\n\n", strings.Join(s.Failures, "; "))
	}
	var longest time.Duration
	for _, x := range s.Restarts {
		longest = max(longest, x.Downtime)
	}
	downtime := missing
	if len(s.Restarts) > 0 {
		downtime = durNS(longest)
	}
	m := s.Memory
	rows := [][2]string{
		{fmt.Sprintf("survivor's maximum under the commits, closed loop (%s)", fns(durNS(measure.Elapsed))), frate(s.MaxLookupRate) + " req/s"},
		{"lookups asked during the soak (open loop)", frate(s.LookupRate) + " req/s"},
		{"lookups achieved", fmt.Sprintf("%s req/s: %d requests sent of the %d on the timeline", frate(lookups.Throughput),
			lookups.Requests, int64(s.LookupRate*s.Duration.Seconds()))},
		{"lookup latency from the intended send p50 / p99 / max", fns(durNS(lookups.Latency.P50)) + " / " +
			fns(durNS(lookups.Latency.P99)) + " / " + fns(durNS(lookups.Latency.Max))},
		{"lookups sent > 1 ms late", fmt.Sprint(lookups.Late)},
		{"failed lookups on the survivor (measurement and soak)", fmt.Sprint(s.FailedLookups)},
		{"transactions committed / scheduled", fmt.Sprintf("%d / %d (%d paths)", s.Transactions, s.Scheduled, s.Paths)},
		{"commit rate asked / achieved", frate(s.CommitRate) + " / " + frate(s.AchievedCommitRate) + " per second"},
		{"commit latency (schedule to ack) p50 / p99 / max", fns(durNS(s.CommitLatency.P50)) + " / " +
			fns(durNS(s.CommitLatency.P99)) + " / " + fns(durNS(s.CommitLatency.Max))},
		{"victim restarts", fmt.Sprint(len(s.Restarts))},
		{"victim ready after restart p50 / max", fns(durNS(s.RestartReady.P50)) + " / " + fns(durNS(s.RestartReady.Max))},
		{"victim's longest downtime (SIGKILL to ready)", fns(downtime)},
		{"survivor RSS median: warm-up / after it / last window", fmt.Sprintf("%s / %s / %s (limit %s, flat: %t)",
			fbytes(float64(m.WarmupMedian)), fbytes(float64(m.BaselineMedian)), fbytes(float64(m.LastMedian)),
			fbytes(float64(m.Limit)), m.Flat)},
		{"survivor peak of the samples", fbytes(float64(m.Max))},
	}
	b.WriteString("| | |\n|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(b, "| %s | %s |\n", row[0], row[1])
	}
	b.WriteString("\n| edge | paths verified | lost transactions | torn samples | caught while applying | torn | not judged (killed, down, slow) | bootstraps |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, e := range []struct {
		name string
		edge SoakEdge
	}{{"survivor", s.Survivor}, {"victim", s.Victim}} {
		t := e.edge.Torn
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", e.name, e.edge.Verified, e.edge.Lost,
			t.Samples, t.Caught, t.Torn, t.Interrupted+t.Unresolved, e.edge.Bootstraps)
	}
	fmt.Fprintf(b, "\n\"Caught while applying\": samples whose first path was still missing at the\n"+
		"first probe, so that the check straddled the moment the edge applied them.\n"+
		"The survivor's RSS, a sample about every %s: %s MiB.\n", fns(durNS(m.Window/2)), soakRSSTrace(s))
	if l.Quick == 1 {
		fmt.Fprintf(b, "With --quick the soak lasts %s and kills every %s; the target is judged on a full run.\n", l.SoakDuration, l.SoakKillEvery)
	}
	b.WriteString("\nCommand:\n\n")
	r.writeCommandBlock(b, []string{"soak"})
}
