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
  narthex edge-role create NAME [flags]   make the PostgreSQL role edges connect as
  narthex edges    list [flags]   the edge registry: every edge, its state, lag and slot
  narthex geodns   --format gdnsd [flags]   GeoDNS configuration from the edge registry
  narthex stores   add|list|show|set|delete|missing|maintain [NAME] [flags]   manage the stores NAR files live in
  narthex import   SOURCE [PATH...] [flags]   bulk-load an existing binary cache into the origin
  narthex roots    add|list|remove [NAME] [PATH...] [flags]   manage the origin's garbage-collection roots
  narthex gc       [flags]   collect paths and payloads no root and no recent use keeps alive
  narthex loadtest <mode> [flags]   populate|lookup|wrk|ceiling|lag|bootstrap|ingest|soak|locations|payloads|filecache|geoip|dashboard|gc|gcrun|report:
                                    measure narthex on loopback

Flags may come before or after a command's arguments. Every flag can also be
set by the environment variable named in its help. Run "narthex help <command>"
(or "narthex <command> -h") for a command's flags.
`

type command func(ctx context.Context, args []string) error

var commands = map[string]command{
	"dev":       runDev,
	"origin":    runOrigin,
	"edge":      runEdge,
	"migrate":   runMigrate,
	"token":     runToken,
	"edge-role": runEdgeRole,
	"edges":     runEdges,
	"geodns":    runGeoDNS,
	"stores":    runStores,
	"import":    runImport,
	"roots":     runRoots,
	"loadtest":  runLoadtest,
	"gc":        runGC,
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run runs the command line args (without the program name) and returns
// the exit status: 0, 1 when the command failed, 2 for a command line
// naming no command.
func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	name, args := args[0], args[1:]
	switch name {
	case "-h", "--help", "-help":
		fmt.Print(usage)
		return 0
	case "help":
		if len(args) == 0 {
			fmt.Print(usage)
			return 0
		}
		// "narthex help token" is "narthex token -h"; "narthex help
		// loadtest lag" is "narthex loadtest lag -h".
		name, args = args[0], append(args[1:], "-h")
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "narthex: unknown command %q\n\n%s", name, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	go func() {
		// The first signal starts a graceful stop; a second one ends the
		// process at once.
		<-ctx.Done()
		stop()
	}()
	if err := cmd(ctx, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "narthex %s: %v\n", name, err)
		return 1
	}
	return 0
}
