package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/origin"
)

func runToken(ctx context.Context, args []string) error {
	if len(args) < 2 || (args[0] != "create" && args[0] != "revoke") {
		return errors.New("usage: narthex token create|revoke NAME [--database-url URL]")
	}
	action, name := args[0], args[1]
	f := newFlags("token "+action+" NAME", "Creates an upload token (printed once; only its hash is stored) or revokes one.")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database")
	if err := f.parse(args[2:]); err != nil {
		return err
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	if action == "revoke" {
		return origin.RevokeToken(ctx, db, name)
	}
	tok, err := origin.CreateToken(ctx, db, name)
	if err != nil {
		return err
	}
	// The token is shown once; only its hash is stored.
	fmt.Println(tok)
	return nil
}
