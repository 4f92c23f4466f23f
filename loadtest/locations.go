package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxLocationsCount bounds the files of a locations run.
const MaxLocationsCount = 10_000_000

// LocationsConfig says which NAR files to record where: nar/<Hash(Seed,
// i)>.nar for i < Count, each with a location (key: its URL) in every one
// of Stores. `loadtest lookup --nar` asks for the same files.
type LocationsConfig struct {
	// DatabaseURL is the origin database, migrated; on loopback. Required.
	DatabaseURL string
	Count       int
	Seed        int64
	// Stores are the names of the stores, existing rows of the store
	// table, that hold a copy of every file. At least one.
	Stores []string
	// Size is every file's size in bytes. Default 1 MiB.
	Size int64
}

// Validate names the first unusable field.
func (c LocationsConfig) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("locations: DatabaseURL is empty")
	case c.Count < 1 || c.Count > MaxLocationsCount:
		return fmt.Errorf("locations: Count %d is outside 1-%d", c.Count, MaxLocationsCount)
	case len(c.Stores) == 0:
		return errors.New("locations: no store")
	case c.Size < 0:
		return fmt.Errorf("locations: Size %d is negative", c.Size)
	}
	return CheckDatabaseURL(c.DatabaseURL)
}

// LocationsResult is what a locations run recorded.
type LocationsResult struct {
	Files     int           `json:"files"`
	Locations int64         `json:"locations"`
	Stores    []string      `json:"stores"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// Locations records cfg.Count NAR files and a location of each in every
// store of cfg.Stores, with COPY in one transaction: the redirect
// benchmark's files, without narinfos (an edge redirects a NAR download by
// its file's locations alone).
func Locations(ctx context.Context, cfg LocationsConfig) (*LocationsResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Size == 0 {
		cfg.Size = 1 << 20
	}
	start := time.Now()
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("locations: %w", err)
	}
	defer conn.Close(context.Background())
	ids := make([]int32, len(cfg.Stores))
	for i, name := range cfg.Stores {
		if err := conn.QueryRow(ctx, "SELECT id FROM store WHERE name = $1", name).Scan(&ids[i]); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("locations: no store named %q", name)
			}
			return nil, fmt.Errorf("locations: store %q: %w", name, err)
		}
	}
	url := func(i int) string { return "nar/" + Hash(cfg.Seed, i) + ".nar" }
	res := &LocationsResult{Files: cfg.Count, Stores: cfg.Stores}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"nar_file"}, []string{"url", "file_hash", "file_size", "compression"},
			pgx.CopyFromSlice(cfg.Count, func(i int) ([]any, error) {
				return []any{url(i), sha256Of(domainHit, cfg.Seed, int64(i)), cfg.Size, "none"}, nil
			}))
		if err != nil {
			return fmt.Errorf("nar_file: %w", err)
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"payload_location"}, []string{"url", "store_id", "key", "size"},
			pgx.CopyFromSlice(cfg.Count*len(ids), func(k int) ([]any, error) {
				u := url(k / len(ids))
				return []any{u, ids[k%len(ids)], u, cfg.Size}, nil
			}))
		res.Locations = n
		if err != nil {
			return fmt.Errorf("payload_location: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("locations: %w", err)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// WriteTable writes the result as a table.
func (r *LocationsResult) WriteTable(w io.Writer) error {
	t := newTable("locations")
	t.add("files", fmtInt(int64(r.Files)))
	t.add("locations", fmtInt(r.Locations))
	t.add("stores", fmt.Sprint(r.Stores))
	t.add("took", fmtDuration(r.Elapsed))
	return t.write(w)
}
