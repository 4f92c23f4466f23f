// Command narthex is the one binary of narthex: the origin that takes
// uploads, the edges that serve lookups, and the tools around them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `narthex — a geo-replicated metadata edge for Nix binary caches

Usage:
  narthex dev      [flags]   run PostgreSQL, an origin and edges on this machine
  narthex origin   [flags]   serve uploads and the cache from PostgreSQL
  narthex edge     [flags]   serve lookups from a local replica
  narthex migrate  [flags]   bring the database schema up to date
  narthex token    create|revoke NAME [flags]   manage upload tokens
  narthex loadtest <mode> [flags]   populate|lookup|ceiling|lag|bootstrap|ingest|soak: measure narthex on loopback

Every flag can also be set by the environment variable named in its help.
Run "narthex <command> -h" for a command's flags.
`

type command func(ctx context.Context, args []string) error

var commands = map[string]command{
	"dev":      runDev,
	"origin":   runOrigin,
	"edge":     runEdge,
	"migrate":  runMigrate,
	"token":    runToken,
	"loadtest": runLoadtest,
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "narthex: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		// The first signal starts a graceful stop; a second one ends the
		// process at once.
		<-ctx.Done()
		stop()
	}()
	if err := cmd(ctx, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "narthex %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
