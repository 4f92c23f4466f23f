package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/narthex-cache/narthex/registry"
)

const edgesUsage = `usage: narthex edges <action> [flags]

Shows the edge registry of the origin database: every edge that has
replicated from it, what it registered about itself (narthex edge
--region, --latitude, --longitude, --public-address, --public-url) and the
state of its replication.

Actions:
  list   every edge with its state, lag, last heartbeat and slot

Run "narthex edges <action> -h" for an action's flags.
`

var edgesActions = map[string]command{
	"list": runEdgesList,
}

func runEdges(ctx context.Context, args []string) error {
	return dispatch(ctx, args, "action", edgesUsage, edgesActions, ": want list (see narthex edges -h)")
}

func runEdgesList(ctx context.Context, args []string) error {
	f := newFlags("edges list", "Lists every registered edge: name, region, coordinates, the addresses DNS answers with,\n"+
		"public URL, state, replication lag (WAL bytes the edge's slot has not confirmed, and the\n"+
		"staleness of its replica at its last heartbeat), when it was last seen, its slot and whether\n"+
		"that streams, and the WAL the slot retains on the origin (pg_current_wal_lsn - restart_lsn).\n\n"+
		"States, the first that holds: away (not seen for --away-after), rebuilding (bootstrapping a\n"+
		"new replica while serving its old one), slot missing (its slot is gone: it bootstraps anew\n"+
		"when it connects), disconnected (seen, but its slot does not stream), lagging (its /readyz\n"+
		"says its replica is too stale), ready.")
	asJSON := f.Bool("json", false, "print JSON instead of a table")
	awayAfter := f.Duration("away-after", registry.DefaultAwayAfter, "an edge not seen for longer than this is away")
	dbURL := f.databaseURL(dbHelp)
	if err := f.parse(args); err != nil {
		return err
	}
	if *awayAfter <= 0 {
		return fmt.Errorf("--away-after %s must be positive", *awayAfter)
	}
	db, err := connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := registry.List(ctx, db, *awayAfter)
	if err != nil {
		return err
	}
	return report(*asJSON, list, func(w io.Writer) error { return writeEdgeList(w, list) })
}

// writeEdgeList writes the edges as a table.
func writeEdgeList(w io.Writer, list []registry.Edge) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREGION\tLAT,LON\tADDRESSES\tURL\tSTATE\tLAG\tSTALENESS\tLAST SEEN\tSLOT\tWAL RETAINED")
	for _, e := range list {
		coords := "-"
		if e.Latitude != nil && e.Longitude != nil {
			coords = fmt.Sprintf("%g,%g", *e.Latitude, *e.Longitude)
		}
		addrs := make([]string, len(e.PublicAddresses))
		for i, a := range e.PublicAddresses {
			addrs[i] = a.String()
		}
		slot := e.Slot + " (gone)"
		if e.SlotExists {
			slot = e.Slot + " (inactive)"
			if e.SlotActive {
				slot = e.Slot + " (streaming)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, dashIfEmpty(e.Region), coords,
			dashIfEmpty(strings.Join(addrs, ",")), dashIfEmpty(e.PublicURL), e.State,
			orDash(e.LagBytes, formatSize), orDash(e.ReplicaLagSeconds, formatSeconds),
			formatSeconds(e.SecondsSinceSeen)+" ago", slot, orDash(e.RetainedBytes, formatSize))
	}
	return tw.Flush()
}

// formatSeconds writes a number of seconds as a duration to the
// millisecond below a minute and to the second above: "1.5s", "3m12s".
func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
