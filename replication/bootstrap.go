package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/narthex-cache/narthex/replica"
)

// snapshotQueries copy the published columns of each table, all as text, in
// the snapshot of the new slot. They select what the publication in
// sql/migrations carries, in the order the tables' value functions expect.
var snapshotQueries = []struct {
	table   string
	columns []string
	query   string
}{
	{"store", []string{"id", "name", "kind", "base_url", "region", "latitude", "longitude", "upload_priority", "download_priority", "read_only", "write_only", "settings"},
		`SELECT id::text, name, kind, base_url, region, latitude::text, longitude::text, upload_priority::text, download_priority::text,
			read_only::text, write_only::text, settings::text FROM store`},
	{"payload_location", []string{"url", "store_id", "key", "state"},
		`SELECT url, store_id::text, key, state FROM payload_location`},
	{"narinfo", []string{"hash", "body", "withdrawn"},
		`SELECT hash, body, withdrawn::text FROM narinfo`},
}

// estimate is the server's estimate, from its statistics, of the narinfo
// rows and of the rows of every published table (0 when it has none).
func estimate(ctx context.Context, conn *pgconn.PgConn) (narinfos, rows int, err error) {
	res, err := conn.Exec(ctx, `SELECT coalesce(sum(greatest(reltuples, 0)) FILTER (WHERE oid = 'narinfo'::regclass), 0)::bigint,
		coalesce(sum(greatest(reltuples, 0)), 0)::bigint
		FROM pg_class WHERE oid IN ('narinfo'::regclass, 'payload_location'::regclass, 'store'::regclass)`).ReadAll()
	if err != nil {
		return 0, 0, fmt.Errorf("estimate rows: %w", err)
	}
	if len(res) == 0 || len(res[0].Rows) == 0 {
		return 0, 0, nil
	}
	if narinfos, err = strconv.Atoi(string(res[0].Rows[0][0])); err != nil {
		return 0, 0, fmt.Errorf("estimate rows: %w", err)
	}
	if rows, err = strconv.Atoi(string(res[0].Rows[0][1])); err != nil {
		return 0, 0, fmt.Errorf("estimate rows: %w", err)
	}
	return narinfos, rows, nil
}

// bootstrap creates slot on conn (a replication connection) and copies the
// published tables, as of the slot's consistent point, into rep. The slot's
// snapshot is used inside a repeatable-read transaction on the same
// connection, so no commit falls between the copy and the stream: every
// transaction before the consistent point is in the copy, and every later one
// comes through the slot. It returns the consistent point, the LSN the
// stream starts from. progress is called with the rows copied so far, and
// the server's estimate of the rows to copy, once the copy begins, every
// few tens of megabytes, and after each table.
func bootstrap(ctx context.Context, conn *pgconn.PgConn, rep *replica.Replica, slot, system string, progress func(rows, expected int)) (pglogrepl.LSN, error) {
	if _, err := conn.Exec(ctx, "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ").ReadAll(); err != nil {
		return 0, fmt.Errorf("begin snapshot: %w", err)
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "USE_SNAPSHOT"})
	if err != nil {
		return 0, fmt.Errorf("create slot %s: %w", slot, err)
	}
	// The copy holds every transaction committed before now.
	snapshotTime := time.Now()
	lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, fmt.Errorf("parse consistent point: %w", err)
	}
	narinfos, expected, err := estimate(ctx, conn)
	if err != nil {
		return 0, err
	}
	progress(0, expected)
	l := rep.Load(narinfos, func(rows int) { progress(rows, expected) })
	copied := 0
	for _, q := range snapshotQueries {
		n, err := copyTable(ctx, conn, q.query, q.columns, q.table, l)
		if err != nil {
			return 0, fmt.Errorf("copy %s: %w", q.table, err)
		}
		copied += n
		progress(copied, expected)
	}
	if _, err := conn.Exec(ctx, "COMMIT").ReadAll(); err != nil {
		return 0, fmt.Errorf("end snapshot: %w", err)
	}
	err = l.Finish(ctx, replica.State{LSN: lsn, Slot: slot, System: system, LastCommit: snapshotTime})
	if err != nil {
		return 0, err
	}
	return lsn, nil
}

// copyTable runs query as a binary COPY and writes each row to w. It
// returns how many rows it wrote.
func copyTable(ctx context.Context, conn *pgconn.PgConn, query string, columns []string, table string, l *replica.Loader) (int, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := conn.CopyTo(ctx, pw, "COPY ("+query+") TO STDOUT (FORMAT binary)")
		pw.CloseWithError(err)
		done <- err
	}()
	col := make(map[string][]byte, len(columns))
	rows := 0
	err := readBinaryCopy(bufio.NewReaderSize(pr, 1<<20), len(columns), func(fields [][]byte) error {
		// Set copies what it keeps, so one map serves every row.
		clear(col)
		for i, f := range fields {
			if f != nil {
				col[columns[i]] = f
			}
		}
		rows++
		return l.Set(table, col)
	})
	if err != nil {
		pr.CloseWithError(err)
		<-done
		return 0, err
	}
	return rows, <-done
}

var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// readBinaryCopy decodes PostgreSQL's binary COPY format, calling fn with
// each row's fields (nil for NULL). The slices are valid only during fn.
func readBinaryCopy(r *bufio.Reader, ncols int, fn func(fields [][]byte) error) error {
	var hdr [19]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("copy header: %w", err)
	}
	if !bytes.Equal(hdr[:11], copySignature) {
		return errors.New("copy header: bad signature")
	}
	if ext := binary.BigEndian.Uint32(hdr[15:]); ext > 0 {
		if _, err := r.Discard(int(ext)); err != nil {
			return fmt.Errorf("copy header: %w", err)
		}
	}
	fields := make([][]byte, ncols)
	lens := make([]int32, ncols)
	buf := make([]byte, 0, 4096)
	var n2 [2]byte
	var n4 [4]byte
	for {
		if _, err := io.ReadFull(r, n2[:]); err != nil {
			return fmt.Errorf("copy row: %w", err)
		}
		count := int16(binary.BigEndian.Uint16(n2[:]))
		if count == -1 {
			return nil
		}
		if int(count) != ncols {
			return fmt.Errorf("copy row has %d fields, want %d", count, ncols)
		}
		buf = buf[:0]
		for i := range ncols {
			if _, err := io.ReadFull(r, n4[:]); err != nil {
				return fmt.Errorf("copy field: %w", err)
			}
			l := int32(binary.BigEndian.Uint32(n4[:]))
			lens[i] = l
			if l < 0 {
				continue
			}
			start := len(buf)
			buf = slices.Grow(buf, int(l))[:start+int(l)]
			if _, err := io.ReadFull(r, buf[start:]); err != nil {
				return fmt.Errorf("copy field: %w", err)
			}
		}
		off := 0
		for i, l := range lens {
			if l < 0 {
				fields[i] = nil
				continue
			}
			fields[i] = buf[off : off+int(l) : off+int(l)]
			off += int(l)
		}
		if err := fn(fields); err != nil {
			return err
		}
	}
}
