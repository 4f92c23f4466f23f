package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"
)

// DefaultChunkSize is how many paths populate writes per transaction.
const DefaultChunkSize = 5000

// MaxPopulateCount bounds the size of a synthetic cache.
const MaxPopulateCount = 100_000_000

// PopulateConfig says what synthetic cache to write where.
type PopulateConfig struct {
	// DatabaseURL is the origin database, migrated; on loopback. Required.
	DatabaseURL string
	// Count is the number of store paths, 1 to MaxPopulateCount.
	Count int
	// Seed chooses the cache: path i is Synth.Path(i) of NewSynth(Seed, RefsMax).
	Seed int64
	// RefsMax is the largest number of references of a path; 0 makes a
	// cache without references.
	RefsMax int
	// StaticDir, when set, also receives every body as <hash>.narinfo and a
	// nix-cache-info, so that a static web server can serve the same cache.
	StaticDir string
	// ChunkSize is how many paths go into one transaction. Default
	// DefaultChunkSize. Every chunk commits on its own: an edge applies a
	// transaction in one write, so one huge transaction would make it
	// buffer the whole cache.
	ChunkSize int
	// Workers generate and sign paths in parallel with the COPY. Default
	// GOMAXPROCS.
	Workers int
	// Timeout bounds the whole run, up to MaxPopulateTimeout. Default
	// MaxDuration.
	Timeout time.Duration
}

// MaxPopulateTimeout is the longest Timeout of a populate run.
const MaxPopulateTimeout = 24 * time.Hour

// Validate names the first unusable field.
func (c PopulateConfig) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("populate: DatabaseURL is empty")
	case c.Count < 1 || c.Count > MaxPopulateCount:
		return fmt.Errorf("populate: Count %d is outside 1-%d", c.Count, MaxPopulateCount)
	case c.RefsMax < 0 || c.RefsMax > 1000:
		return fmt.Errorf("populate: RefsMax %d is outside 0-1000", c.RefsMax)
	case c.ChunkSize < 0 || c.Workers < 0:
		return errors.New("populate: ChunkSize and Workers may not be negative")
	case c.Timeout < 0 || c.Timeout > MaxPopulateTimeout:
		return fmt.Errorf("populate: Timeout %v is outside (0, %v]", c.Timeout, MaxPopulateTimeout)
	}
	return CheckDatabaseURL(c.DatabaseURL)
}

func (c *PopulateConfig) setDefaults() {
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Timeout == 0 {
		c.Timeout = MaxDuration
	}
}

// PopulateResult is what populate wrote and how fast.
type PopulateResult struct {
	Seed      int64  `json:"seed"`
	Paths     int    `json:"paths"`
	RefsMax   int    `json:"refs_max"`
	BodyBytes int64  `json:"body_bytes"`
	StaticDir string `json:"static_dir,omitempty"`
	PublicKey string `json:"public_key"`
	// TriggersSkipped tells that the COPY ran with session_replication_role
	// = replica (a superuser may), so foreign key triggers did not fire: the
	// rows are consistent by construction, and the checks would cost more
	// than the inserts.
	TriggersSkipped bool          `json:"triggers_skipped"`
	Tables          []TableCopy   `json:"tables"`
	Elapsed         time.Duration `json:"elapsed_ns"`
	PathsPerSec     float64       `json:"paths_per_sec"`
	RowsPerSec      float64       `json:"rows_per_sec"` // all tables' rows over Elapsed
}

// TableCopy is what populate wrote into one table.
type TableCopy struct {
	Table string        `json:"table"`
	Rows  int64         `json:"rows"`
	Time  time.Duration `json:"copy_ns"` // time spent in its COPYs
}

// Rows is the number of rows written to all tables.
func (r *PopulateResult) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// ErrAlreadyPopulated is returned when the database already holds the
// first path of the seed.
var ErrAlreadyPopulated = errors.New("the database already holds this seed's paths; use another seed or a fresh database")

// Populate writes a synthetic cache of cfg.Count paths with COPY, in
// chunks of cfg.ChunkSize paths, while workers generate and sign the next
// chunks. The paths of a chunk and its references go in transactions of
// their own on two connections (see chunkWriter), and paths only reference
// earlier ones, so the graph is closed at every commit. It never holds
// more than a few chunks in memory.
func Populate(ctx context.Context, cfg PopulateConfig) (*PopulateResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	synth := NewSynth(cfg.Seed, cfg.RefsMax)
	w, err := openChunkWriter(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer w.close()
	var exists bool
	if err := w.paths.QueryRow(ctx, qSeedPresent, Hash(cfg.Seed, 0)).Scan(&exists); err != nil {
		return nil, fmt.Errorf("look for earlier paths: %w", err)
	}
	if exists {
		return nil, fmt.Errorf("populate seed %d: %w", cfg.Seed, ErrAlreadyPopulated)
	}
	var static *staticDir
	if cfg.StaticDir != "" {
		if static, err = newStaticDir(cfg.StaticDir); err != nil {
			return nil, err
		}
	}

	res := &PopulateResult{
		Seed: cfg.Seed, Paths: cfg.Count, RefsMax: cfg.RefsMax, StaticDir: cfg.StaticDir,
		PublicKey: synth.Key.Public().String(), TriggersSkipped: w.skipTriggers,
	}
	start := time.Now()
	if res.BodyBytes, err = w.writeAll(ctx, synth, cfg.Count, cfg.ChunkSize, cfg.Workers, static); err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(start)
	res.Tables = w.tables
	res.PathsPerSec = float64(res.Paths) / res.Elapsed.Seconds()
	res.RowsPerSec = float64(res.Rows()) / res.Elapsed.Seconds()
	return res, nil
}

// WriteTable writes the result as a table.
func (r *PopulateResult) WriteTable(w io.Writer) error {
	t := newTable(fmt.Sprintf("populate seed %d: %d paths in %s", r.Seed, r.Paths, fmtDuration(r.Elapsed)), "table", "rows", "copy time", "rows/s")
	for _, tc := range r.Tables {
		t.add(tc.Table, fmtInt(tc.Rows), fmtDuration(tc.Time), fmtRate(float64(tc.Rows)/tc.Time.Seconds()))
	}
	t.add("all", fmtInt(r.Rows()), fmtDuration(r.Elapsed), fmtRate(r.RowsPerSec))
	s := newTable("")
	s.add("paths/s", fmtRate(r.PathsPerSec))
	s.add("narinfo bodies", fmt.Sprintf("%s, %d bytes on average", fmtBytes(r.BodyBytes), r.BodyBytes/int64(r.Paths)))
	s.add("references", fmt.Sprintf("0-%d per path", r.RefsMax))
	if r.TriggersSkipped {
		s.add("foreign key triggers", "skipped (session_replication_role = replica; rows consistent by construction)")
	} else {
		s.add("foreign key triggers", "fired (not a superuser)")
	}
	s.add("public key", r.PublicKey)
	if r.StaticDir != "" {
		s.add("static copy", r.StaticDir)
	}
	return writeTables(w, t, s)
}
