package sql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
)

//go:embed queries/*.sql
var queryFiles embed.FS

var qEdgeRoleGrants = Query(queryFiles, "edge_role_grants")

// ValidRoleName matches the name of an edge's role: a PostgreSQL name
// that needs no quoting.
var ValidRoleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ErrBadRoleName is the error of a role name ValidRoleName refuses.
var ErrBadRoleName = errors.New("a role name is 1 to 63 characters of a-z, 0-9 and _, not starting with a digit")

// GrantEdgeRole makes role a role an edge connects as: it can log in,
// replicate, read what the publication carries, register the edge and
// write fetch counts, and nothing else (queries/edge_role_grants.sql). A
// role that exists keeps its other privileges; run again after a
// migration, it is granted what the migration published. A password, when
// not empty, is set too. It runs in one transaction.
func GrantEdgeRole(ctx context.Context, conn *pgx.Conn, role, password string) error {
	if !ValidRoleName.MatchString(role) {
		return fmt.Errorf("role %q: %w", role, ErrBadRoleName)
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
			return fmt.Errorf("look up role: %w", err)
		}
		verb := "CREATE"
		if exists {
			verb = "ALTER"
		}
		stmts := []string{fmt.Sprintf("%s ROLE %s LOGIN REPLICATION", verb, pgx.Identifier{role}.Sanitize())}
		if password != "" {
			var s string
			if err := tx.QueryRow(ctx, "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", role, password).Scan(&s); err != nil {
				return fmt.Errorf("password: %w", err)
			}
			stmts = append(stmts, s)
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("role %s: %w", role, err)
			}
		}
		rows, err := tx.Query(ctx, qEdgeRoleGrants, role, Publication)
		if err != nil {
			return fmt.Errorf("grants: %w", err)
		}
		grants, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("grants: %w", err)
		}
		for _, g := range grants {
			if _, err := tx.Exec(ctx, g); err != nil {
				return fmt.Errorf("%s: %w", g, err)
			}
		}
		return nil
	})
}
