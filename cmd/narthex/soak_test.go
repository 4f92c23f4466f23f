package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/loadtest"
)

// TestLoadtestSoak runs a short soak end to end: `narthex loadtest soak`
// starts two real edge processes (this binary, see TestMain), kills one
// every second, and must pass every check.
func TestLoadtestSoak(t *testing.T) {
	const keys, seed = 300, 5
	url := pgtest.NewOriginDatabase(t)
	if _, err := loadtest.Populate(t.Context(), loadtest.PopulateConfig{DatabaseURL: url, Count: keys, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	p := startNarthex(t, "loadtest", "soak", "--database-url", url, "--keys", "300", "--seed", "5",
		"--duration", "4s", "--kill-every", "1s", "--commit-rate", "100", "--connections", "4", "--measure", "500ms",
		"--grace", "30s", "--ready-timeout", "1m", "--dir", tempDir(t), "--json")
	select {
	case <-p.exited:
	case <-time.After(4 * time.Minute):
		t.Fatalf("soak did not end within 4 minutes:\n%s", p.logs())
	}
	p.mu.Lock()
	out := strings.Join(p.stdout, "\n")
	p.mu.Unlock()
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("soak exited with status %d:\n%s\n%s", code, p.logs(), out)
	}
	var res loadtest.SoakResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("soak output: %v\n%s", err, out)
	}
	if !res.Passed || len(res.Failures) != 0 {
		t.Errorf("soak did not pass: %v", res.Failures)
	}
	// Kills are due at 1 s, 2 s and 3 s; a restart that takes longer than
	// the period (a busy machine) leaves the next kill behind, and none goes
	// past the end, so at least the first one happens and at most three.
	if n := len(res.Restarts); n < 1 || n > 3 {
		t.Errorf("%d restarts of the victim, want 1 to 3", n)
	}
	// The commits are bounded in time, so how many fit depends on the
	// machine; every one that was made must be on both edges (below).
	if res.Transactions < 1 || res.Transactions > res.Scheduled || res.Paths < res.Transactions {
		t.Errorf("%d of %d scheduled transactions with %d paths committed", res.Transactions, res.Scheduled, res.Paths)
	}
	if res.Lookups == nil || res.Lookups.Answered == 0 || res.FailedLookups != 0 {
		t.Errorf("lookups on the survivor: %+v, %d failed", res.Lookups, res.FailedLookups)
	}
	for _, e := range []loadtest.SoakEdge{res.Survivor, res.Victim} {
		if e.Verified != res.Paths || e.Lost != 0 || e.Bootstraps != 1 {
			t.Errorf("%s: %d of %d paths verified, %d transactions lost, %d bootstraps", e.Name, e.Verified, res.Paths, e.Lost, e.Bootstraps)
		}
		if e.Torn.Samples == 0 || e.Torn.Torn != 0 {
			t.Errorf("%s: torn check %+v", e.Name, e.Torn)
		}
	}
	t.Logf("survivor RSS: warm-up %d MiB, baseline %d MiB, last %d MiB, limit %d MiB", res.Memory.WarmupMedian>>20,
		res.Memory.BaselineMedian>>20, res.Memory.LastMedian>>20, res.Memory.Limit>>20)
	if len(res.Memory.Samples) < 20 || !res.Memory.Flat {
		t.Errorf("survivor memory: %d samples, flat %v", len(res.Memory.Samples), res.Memory.Flat)
	}
	// The edges' slots are gone.
	var slots int
	if err := pgtest.Connect(t, url).QueryRow(t.Context(), "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()").Scan(&slots); err != nil || slots != 0 {
		t.Errorf("%d replication slots left (%v)", slots, err)
	}
}
