package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/narthex-cache/narthex/sql"
)

func runEdgeRole(ctx context.Context, args []string) error {
	f := newFlags("edge-role", "create NAME makes NAME the PostgreSQL role an edge connects as (--database-url of narthex edge):\n"+
		"it may log in, replicate, read what the publication carries, register the edge and write fetch\n"+
		"counts, and nothing else. An existing role keeps its other privileges; run it again after\n"+
		"\"narthex migrate\" to grant what a migration published. Run it as a superuser or a role with CREATEROLE.")
	action := f.arg("create")
	name := f.arg("NAME")
	passwordFile := f.String("password-file", "", "file holding the role's password (set when given; else left as it is)")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database")
	if err := f.parse(args); err != nil {
		return err
	}
	if *action != "create" {
		return fmt.Errorf("unknown action %q: want create", *action)
	}
	if !sql.ValidRoleName.MatchString(*name) {
		return fmt.Errorf("role name %q: %w", *name, sql.ErrBadRoleName)
	}
	password := ""
	if *passwordFile != "" {
		var err error
		if password, err = readSecret("password-file", *passwordFile); err != nil {
			return err
		}
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := sql.GrantEdgeRole(ctx, conn, *name, password); err != nil {
		return err
	}
	fmt.Printf("role %s may now run an edge: narthex edge --database-url 'postgres://%s@<origin>/%s'\n",
		*name, *name, conn.Config().Database)
	return nil
}
