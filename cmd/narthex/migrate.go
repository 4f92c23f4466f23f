package main

import (
	"context"
	"fmt"

	"github.com/narthex-cache/narthex/sql"
)

func runMigrate(ctx context.Context, args []string) error {
	f := newFlags("migrate", "Brings the origin database schema up to date. Safe to run again.")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database")
	if err := f.parse(args); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	if err := sql.MigrateURL(ctx, url); err != nil {
		return err
	}
	fmt.Println("schema up to date")
	return nil
}
