package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/sql"
)

// NewOriginDatabase is NewDatabase with the origin's schema migrated.
func NewOriginDatabase(t testing.TB) string {
	t.Helper()
	url := NewDatabase(t)
	if err := sql.MigrateURL(t.Context(), url); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return url
}

// Connect opens a connection that is closed when the test ends.
func Connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
