package loadtest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// MaxPayloadsCount and MaxPayloadSize bound a payloads run.
const (
	MaxPayloadsCount = 1_000_000
	MaxPayloadSize   = 4 << 30
)

// PayloadsConfig says what NAR files to write into a local store's
// directory and record there.
type PayloadsConfig struct {
	// DatabaseURL is the origin database, migrated; on loopback. Required.
	DatabaseURL string
	// Store is the name of a local store, an existing row of the store
	// table; Dir is its directory. Both required.
	Store string
	Dir   string
	// Name starts every file's name: nar/<Name>-<i>.nar. Required, a
	// different one for each run into the same database.
	Name  string
	Count int
	// Sizes are drawn uniformly from MinSize to MaxSize bytes, seeded by
	// Seed; the bytes are random too, so that no store can compress them.
	MinSize, MaxSize int64
	Seed             int64
}

// Validate names the first unusable field.
func (c PayloadsConfig) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("payloads: DatabaseURL is empty")
	case c.Store == "":
		return errors.New("payloads: Store is empty")
	case c.Dir == "":
		return errors.New("payloads: Dir is empty")
	case c.Name == "" || ValidNameErr(c.Name) != nil:
		return fmt.Errorf("payloads: Name %q is not letters, digits and dashes", c.Name)
	case c.Count < 1 || c.Count > MaxPayloadsCount:
		return fmt.Errorf("payloads: Count %d is outside 1-%d", c.Count, MaxPayloadsCount)
	case c.MinSize < 1 || c.MaxSize < c.MinSize || c.MaxSize > MaxPayloadSize:
		return fmt.Errorf("payloads: sizes %d-%d are not within 1-%d", c.MinSize, c.MaxSize, MaxPayloadSize)
	}
	return CheckDatabaseURL(c.DatabaseURL)
}

// ValidNameErr says why name cannot start a payload's file name.
func ValidNameErr(name string) error {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%q holds %q", name, r)
		}
	}
	return nil
}

// PayloadsResult is what a payloads run wrote.
type PayloadsResult struct {
	Store   string        `json:"store"`
	Files   int           `json:"files"`
	Bytes   int64         `json:"bytes"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Payloads writes cfg.Count files of random bytes into the local store's
// directory and records each as a NAR file (compression none, its real
// SHA-256) with a good location in that store: what a backfill copies
// into another store.
func Payloads(ctx context.Context, cfg PayloadsConfig) (*PayloadsResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("payloads: %w", err)
	}
	defer conn.Close(context.Background())
	var storeID int32
	var kind string
	if err := conn.QueryRow(ctx, "SELECT id, kind FROM store WHERE name = $1", cfg.Store).Scan(&storeID, &kind); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("payloads: no store named %q", cfg.Store)
		}
		return nil, fmt.Errorf("payloads: store %q: %w", cfg.Store, err)
	}
	if kind != "local" {
		return nil, fmt.Errorf("payloads: store %q is of kind %s, not local", cfg.Store, kind)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "nar"), 0o755); err != nil {
		return nil, fmt.Errorf("payloads: %w", err)
	}
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("narthex payloads %d", cfg.Seed))
	src := rand.NewChaCha8(seed)
	rng := rand.New(src)
	type file struct {
		url, hash string
		size      int64
	}
	files := make([]file, cfg.Count)
	res := &PayloadsResult{Store: cfg.Store, Files: cfg.Count}
	for i := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		size := cfg.MinSize + rng.Int64N(cfg.MaxSize-cfg.MinSize+1)
		url := fmt.Sprintf("nar/%s-%d.nar", cfg.Name, i)
		sum, err := writeRandom(filepath.Join(cfg.Dir, filepath.FromSlash(url)), src, size)
		if err != nil {
			return nil, fmt.Errorf("payloads: %w", err)
		}
		files[i] = file{url, "sha256:" + nixbase32.EncodeToString(sum), size}
		res.Bytes += size
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"nar_file"}, []string{"url", "file_hash", "file_size", "compression"},
			pgx.CopyFromSlice(len(files), func(i int) ([]any, error) {
				return []any{files[i].url, files[i].hash, files[i].size, "none"}, nil
			})); err != nil {
			return fmt.Errorf("nar_file: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"payload_location"}, []string{"url", "store_id", "key", "size"},
			pgx.CopyFromSlice(len(files), func(i int) ([]any, error) {
				return []any{files[i].url, storeID, files[i].url, files[i].size}, nil
			})); err != nil {
			return fmt.Errorf("payload_location: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("payloads: %w", err)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// writeRandom writes size random bytes of src to name and returns their
// SHA-256.
func writeRandom(name string, src *rand.ChaCha8, size int64) ([]byte, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 256<<10)
	var buf [64 << 10]byte
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		src.Read(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			f.Close()
			return nil, err
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return h.Sum(nil), f.Close()
}

// WriteTable writes the result as a table.
func (r *PayloadsResult) WriteTable(w io.Writer) error {
	t := newTable("payloads in store " + r.Store)
	t.add("files", fmtInt(int64(r.Files)))
	t.add("bytes", fmtBytes(r.Bytes))
	t.add("took", fmtDuration(r.Elapsed))
	return t.write(w)
}
