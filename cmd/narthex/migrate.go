package main

import (
	"context"
	"fmt"

	"github.com/narthex-cache/narthex/sql"
)

func runMigrate(ctx context.Context, args []string) error {
	f := newFlags("migrate", "Brings the origin database schema up to date. Safe to run again.")
	dbURL := f.String("database-url", "", "PostgreSQL connection string of the origin database")
	dbURLFile := f.String("database-url-file", "", "file holding the connection string (instead of --database-url)")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := databaseURL(*dbURL, *dbURLFile)
	if err != nil {
		return err
	}
	if err := sql.MigrateURL(ctx, url); err != nil {
		return err
	}
	fmt.Println("schema up to date")
	return nil
}
