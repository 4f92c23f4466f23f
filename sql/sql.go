// Package sql owns the schema of the origin database: the migrations that
// build it, the publication that edges replicate, and the database facts
// that several packages share (publication name, edge and slot names).
// Queries live beside the package that runs them, as commented .sql files
// under queries/, embedded and read with Query. It must never hold
// connection settings or run anything at import.
package sql

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable records which migrations have run.
const versionTable = "narthex_schema_version"

// Migrate brings the database behind conn to the newest schema. It is
// idempotent, and safe to run from several processes at once: tern holds an
// advisory lock while it migrates.
func Migrate(ctx context.Context, conn *pgx.Conn) error { return migrateTo(ctx, conn, -1) }

// MigrateTo brings the database behind conn to schema version version
// (the number of the last migration to run), for tools that fill a
// database as an older origin left it before migrating it further.
func MigrateTo(ctx context.Context, conn *pgx.Conn, version int32) error {
	return migrateTo(ctx, conn, version)
}

// migrateTo migrates to version target, or to the newest when target < 0.
func migrateTo(ctx context.Context, conn *pgx.Conn, target int32) error {
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("new migrator: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if target < 0 {
		err = m.Migrate(ctx)
	} else {
		err = m.MigrateTo(ctx, target)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// MigrateURL connects to connString, migrates, and disconnects. The
// connection pool's settings (pool_max_conns and the like) may be in
// connString; they are left to the pool.
func MigrateURL(ctx context.Context, connString string) error {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	return Migrate(ctx, conn)
}
