package loadtest

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"time"
)

// SoakConfig describes a soak: two edges of the origin, lookups against one
// (the survivor) at a share of its maximum for the whole run, commits at
// the origin at a fixed rate, and the other edge (the victim) killed with
// SIGKILL and restarted on its replica at a fixed period.
type SoakConfig struct {
	// DatabaseURL is the origin database, on loopback, as a role with
	// REPLICATION; it holds the Keys paths of Seed (loadtest populate).
	// Required. It reaches the edges through their environment.
	DatabaseURL string
	// Keys, Seed and HitRatio are the lookups' keys, as for Lookup.
	// Keys is required; HitRatio 0 means 0.5.
	Keys     int
	Seed     int64
	HitRatio float64
	// Duration of the soak, up to MaxDuration. Default DefaultSoakDuration.
	Duration time.Duration
	// CommitRate is transactions per second, each of 1 to 4 new paths.
	// Default DefaultSoakCommitRate.
	CommitRate float64
	// CommitConnections commit, one transaction in flight on each.
	// Default DefaultCommitConnections.
	CommitConnections int
	// KillEvery is the period of the victim's SIGKILL, at most Duration.
	// Default DefaultKillEvery.
	KillEvery time.Duration
	// LookupShare is the share of the survivor's maximum lookup throughput
	// (closed loop, measured for MeasureFor before the soak while the
	// commits run) asked of it during the soak, in an open loop. Default
	// DefaultLookupShare.
	LookupShare float64
	// LookupConnections carry the lookups. Default 64.
	LookupConnections int
	// MeasureFor is the length of the maximum's measurement. Default
	// DefaultSoakMeasure.
	MeasureFor time.Duration
	// MemoryEvery spaces the samples of the survivor's RSS. Default
	// Duration/50, between 10 ms and 5 s.
	MemoryEvery time.Duration
	// ProbeInterval is the least time between two probes of an edge by the
	// torn check while it waits for a transaction. Default
	// DefaultSoakProbe.
	ProbeInterval time.Duration
	// Grace is how long after the schedule the edges may take to show every
	// committed path. Default DefaultSoakGrace.
	Grace time.Duration
	// ReadyTimeout bounds each wait for an edge's /readyz: the first
	// bootstraps and each restart. Default DefaultSoakReadyTimeout.
	ReadyTimeout time.Duration
	// EdgeName prefixes the edges' names (<name>_survivor, <name>_victim);
	// no edge may have those. Default DefaultSoakEdge.
	EdgeName string
	// Dir holds the run's folder (replicas and logs), removed afterwards
	// but for the logs of a failed run. Default the system's temporary
	// folder.
	Dir string
	// Executable is the narthex binary to run "edge" with. Default this
	// program.
	Executable string
}

func (c *SoakConfig) setDefaults() error {
	if c.DatabaseURL == "" {
		return errors.New("soak: DatabaseURL is empty")
	}
	if err := CheckDatabaseURL(c.DatabaseURL); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	if c.HitRatio == 0 {
		c.HitRatio = 0.5
	}
	c.Duration = cmp.Or(c.Duration, DefaultSoakDuration)
	c.CommitRate = cmp.Or(c.CommitRate, DefaultSoakCommitRate)
	c.CommitConnections = cmp.Or(c.CommitConnections, DefaultCommitConnections)
	c.KillEvery = cmp.Or(c.KillEvery, DefaultKillEvery)
	c.LookupShare = cmp.Or(c.LookupShare, DefaultLookupShare)
	c.LookupConnections = cmp.Or(c.LookupConnections, 64)
	c.MeasureFor = cmp.Or(c.MeasureFor, DefaultSoakMeasure)
	c.MemoryEvery = cmp.Or(c.MemoryEvery, min(max(c.Duration/50, 10*time.Millisecond), 5*time.Second))
	c.ProbeInterval = cmp.Or(c.ProbeInterval, DefaultSoakProbe)
	c.Grace = cmp.Or(c.Grace, DefaultSoakGrace)
	c.ReadyTimeout = cmp.Or(c.ReadyTimeout, DefaultSoakReadyTimeout)
	c.EdgeName = cmp.Or(c.EdgeName, DefaultSoakEdge)
	switch {
	case c.Keys < 1 || c.Keys > MaxKeys:
		return fmt.Errorf("soak: Keys %d is outside 1-%d", c.Keys, MaxKeys)
	case !(c.HitRatio > 0 && c.HitRatio <= 1):
		return fmt.Errorf("soak: HitRatio %v is outside (0, 1]", c.HitRatio)
	case c.Duration < 0 || c.Duration > MaxDuration:
		return fmt.Errorf("soak: Duration %v is outside (0, %v]", c.Duration, MaxDuration)
	case !(c.CommitRate > 0) || math.IsInf(c.CommitRate, 0):
		return fmt.Errorf("soak: CommitRate %v is not a rate", c.CommitRate)
	case c.CommitRate*c.Duration.Seconds() > MaxSoakTransactions:
		return fmt.Errorf("soak: %v at %v transactions/s is more than %d transactions", c.Duration, c.CommitRate, MaxSoakTransactions)
	case c.CommitConnections < 0 || c.CommitConnections > maxCommitConnections:
		return fmt.Errorf("soak: CommitConnections %d is outside 1-%d", c.CommitConnections, maxCommitConnections)
	case c.KillEvery < 100*time.Millisecond || c.KillEvery > c.Duration:
		return fmt.Errorf("soak: KillEvery %v is outside [100ms, Duration %v]", c.KillEvery, c.Duration)
	case !(c.LookupShare > 0 && c.LookupShare <= 1):
		return fmt.Errorf("soak: LookupShare %v is outside (0, 1]", c.LookupShare)
	case c.LookupConnections < 0 || c.LookupConnections > 10_000:
		return fmt.Errorf("soak: LookupConnections %d is outside 1-10000", c.LookupConnections)
	case c.MeasureFor < 0 || c.MeasureFor > time.Minute:
		return fmt.Errorf("soak: MeasureFor %v is outside (0, 1m]", c.MeasureFor)
	case c.MemoryEvery < 0 || c.MemoryEvery > c.Duration/10:
		return fmt.Errorf("soak: MemoryEvery %v is outside (0, Duration/10]", c.MemoryEvery)
	case c.ProbeInterval < 0 || c.ProbeInterval > maxProbeInterval:
		return fmt.Errorf("soak: ProbeInterval %v is outside (0, %v]", c.ProbeInterval, maxProbeInterval)
	case c.Grace < 0 || c.Grace > MaxDuration:
		return fmt.Errorf("soak: Grace %v is outside (0, %v]", c.Grace, MaxDuration)
	case c.ReadyTimeout < 0 || c.ReadyTimeout > MaxDuration:
		return fmt.Errorf("soak: ReadyTimeout %v is outside (0, %v]", c.ReadyTimeout, MaxDuration)
	case !edgeNamePattern.MatchString(c.EdgeName + "_survivor"):
		return fmt.Errorf("soak: edge name %q is not 1-31 characters of [a-z0-9_]", c.EdgeName)
	}
	if c.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("soak: find narthex: %w", err)
		}
		c.Executable = exe
	}
	return nil
}
