package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/origin"
)

func runToken(ctx context.Context, args []string) error {
	f := newFlags("token", "create NAME makes an upload token and prints it, once: only its SHA-256 is stored.\n"+
		"revoke NAME revokes the token named NAME; uploads with it fail from then on.\n"+
		"A name is 1 to 63 characters of a-z, 0-9, '_', '.' and '-', starting with a letter or digit.")
	action := f.arg("create|revoke")
	name := f.arg("NAME")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database")
	if err := f.parse(args); err != nil {
		return err
	}
	switch *action {
	case "create":
		// Checked before connecting, so a bad name fails without a database.
		if !origin.ValidTokenName.MatchString(*name) {
			return fmt.Errorf("token name %q: %w", *name, origin.ErrBadTokenName)
		}
	case "revoke":
		// Any name: tokens named before names were checked can go too.
	default:
		return fmt.Errorf("unknown action %q: want create or revoke", *action)
	}
	url, err := dbURL()
	if err != nil {
		return err
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	defer db.Close()
	if *action == "revoke" {
		return origin.RevokeToken(ctx, db, *name)
	}
	tok, err := origin.CreateToken(ctx, db, *name)
	if err != nil {
		return err
	}
	// The token is shown once; only its hash is stored.
	fmt.Println(tok)
	return nil
}
