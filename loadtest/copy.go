package loadtest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sqlstateInsufficientPrivilege is what SET session_replication_role
// answers a role that is not a superuser.
const sqlstateInsufficientPrivilege = "42501"

// chunkWriter copies chunks into the database over two connections, so
// that PostgreSQL works on two cores: while one writes the paths of chunk
// k (nar_file, narinfo, narinfo_file), the other writes the references of
// chunk k-1, whose paths are committed already. Each runs its own
// transaction per chunk, and a chunk's references only point at paths of
// that chunk or earlier ones, so the graph is closed at every commit.
type chunkWriter struct {
	paths, refs  *pgx.Conn
	skipTriggers bool
	tables       []TableCopy // nar_file, narinfo, narinfo_file, reference
	pending      *chunk      // paths committed, references not yet
	// createdAt, when set, is the upload time of path i, written into
	// created_at of its narinfo and NAR file; else the time of the COPY.
	createdAt func(i int) time.Time
}

func openChunkWriter(ctx context.Context, url string) (*chunkWriter, error) {
	w := &chunkWriter{tables: []TableCopy{{Table: "nar_file"}, {Table: "narinfo"}, {Table: "narinfo_file"}, {Table: "reference"}}}
	var err error
	if w.paths, err = pgx.Connect(ctx, url); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if w.refs, err = pgx.Connect(ctx, url); err != nil {
		w.paths.Close(context.Background())
		return nil, fmt.Errorf("connect: %w", err)
	}
	if w.skipTriggers, err = canSkipTriggers(ctx, w.paths); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *chunkWriter) close() {
	w.paths.Close(context.Background())
	w.refs.Close(context.Background())
}

// canSkipTriggers reports whether the connection's role may set
// session_replication_role.
func canSkipTriggers(ctx context.Context, conn *pgx.Conn) (bool, error) {
	_, err := conn.Exec(ctx, "SET session_replication_role = replica; RESET session_replication_role")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == sqlstateInsufficientPrivilege {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check privileges: %w", err)
	}
	return true, nil
}

// write commits the paths of ch and, at the same time, the references of
// the chunk before it.
func (w *chunkWriter) write(ctx context.Context, ch *chunk) error {
	pending := w.pending
	refsErr := make(chan error, 1)
	go func() {
		if pending == nil {
			refsErr <- nil
			return
		}
		refsErr <- w.writeRefs(ctx, pending)
	}()
	pathsErr := w.writePaths(ctx, ch)
	if err := errors.Join(pathsErr, <-refsErr); err != nil {
		return err
	}
	w.pending = ch
	return nil
}

// writeAll writes paths [0, count) of synth in chunks of size, generated
// by workers (see generateChunks), and returns the bytes of their bodies.
func (w *chunkWriter) writeAll(ctx context.Context, synth *Synth, count, size, workers int, static *staticDir) (int64, error) {
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	var bodyBytes int64
	chunks := generateChunks(genCtx, synth, count, size, workers, static)
	for ch := range chunks {
		<-ch.done
		err := ch.err
		if err == nil {
			err = w.write(ctx, ch)
		}
		if err != nil {
			stopGen()
			drain(chunks)
			return 0, err
		}
		bodyBytes += ch.bodyBytes
	}
	return bodyBytes, w.flush(ctx)
}

// flush commits the references of the last chunk.
func (w *chunkWriter) flush(ctx context.Context) error {
	if w.pending == nil {
		return nil
	}
	err := w.writeRefs(ctx, w.pending)
	w.pending = nil
	return err
}

func (w *chunkWriter) writePaths(ctx context.Context, ch *chunk) error {
	paths, row := ch.paths, make([]any, 0, 8)
	fileCols := []string{"url", "file_hash", "file_size", "compression"}
	pathCols := []string{"hash", "name", "nar_hash", "nar_size", "deriver", "sigs", "body"}
	if w.createdAt != nil {
		fileCols = append(fileCols, "created_at")
		pathCols = append(pathCols, "created_at")
	}
	created := func(row []any, i int) []any {
		if w.createdAt == nil {
			return row
		}
		return append(row, w.createdAt(ch.first+i))
	}
	err := w.tx(ctx, w.paths, func(tx pgx.Tx) error {
		err := copyRows(ctx, tx, &w.tables[0], fileCols, len(paths), func(i int) []any {
			f := &paths[i].Info.Files[0]
			return created(append(row[:0], f.URL, f.FileHash, int64(f.FileSize), f.Compression), i)
		})
		if err != nil {
			return err
		}
		err = copyRows(ctx, tx, &w.tables[1], pathCols, len(paths), func(i int) []any {
			ni := paths[i].Info
			return created(append(row[:0], ni.Hash, ni.Name, ni.NarHash, int64(ni.NarSize), ni.Deriver, ni.Sigs, paths[i].Body), i)
		})
		if err != nil {
			return err
		}
		return copyRows(ctx, tx, &w.tables[2], []string{"narinfo_hash", "url"}, len(paths), func(i int) []any {
			return append(row[:0], paths[i].Info.Hash, paths[i].Info.Files[0].URL)
		})
	})
	if err != nil {
		return fmt.Errorf("paths %d-%d: %w", ch.first, ch.first+len(paths)-1, err)
	}
	return nil
}

func (w *chunkWriter) writeRefs(ctx context.Context, ch *chunk) error {
	if len(ch.refs) == 0 {
		return nil
	}
	row := make([]any, 0, 2)
	err := w.tx(ctx, w.refs, func(tx pgx.Tx) error {
		return copyRows(ctx, tx, &w.tables[3], []string{"referrer", "reference"}, len(ch.refs), func(i int) []any {
			return append(row[:0], ch.refs[i].referrer, ch.refs[i].reference)
		})
	})
	if err != nil {
		return fmt.Errorf("references of paths %d-%d: %w", ch.first, ch.first+len(ch.paths)-1, err)
	}
	return nil
}

// tx runs fn in a transaction on conn that skips the foreign key triggers
// when the role may, and whose commit does not wait for the WAL flush: a
// crash loses at most the last chunks of a synthetic cache, and populate
// refuses to run again on a seed whose first path is there.
func (w *chunkWriter) tx(ctx context.Context, conn *pgx.Conn, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		set := "SET LOCAL synchronous_commit = off"
		if w.skipTriggers {
			set += "; SET LOCAL session_replication_role = replica"
		}
		if _, err := tx.Exec(ctx, set); err != nil {
			return err
		}
		return fn(tx)
	})
}

// copyRows copies n rows into t's table with COPY, counting rows and time
// in t. values returns row i; pgx encodes it before asking for the next,
// so it may reuse its slice.
func copyRows(ctx context.Context, tx pgx.Tx, t *TableCopy, columns []string, n int, values func(i int) []any) error {
	start := time.Now()
	rows, err := tx.CopyFrom(ctx, pgx.Identifier{t.Table}, columns,
		pgx.CopyFromSlice(n, func(i int) ([]any, error) { return values(i), nil }))
	t.Time += time.Since(start)
	t.Rows += rows
	if err != nil {
		return fmt.Errorf("copy %s: %w", t.Table, err)
	}
	return nil
}
