package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/narthex-cache/narthex/geodns"
	"github.com/narthex-cache/narthex/registry"
)

func runGeoDNS(ctx context.Context, args []string) error {
	f := newFlags("geodns", "Writes the configuration of a GeoDNS server from the edge registry: each client (placed by\n"+
		"the EDNS Client Subnet its resolver sends, else by the resolver's address) is answered with\n"+
		"the addresses of its nearest edge whose /readyz answers 200, over plain HTTP on --health-port.\n"+
		"An edge whose replica is stale, or that is gone, drops out; when all of a client's --nearest\n"+
		"edges are down, the answer is --last-resort (every edge's addresses unless set). Edges\n"+
		"without coordinates or addresses (narthex edge --latitude, --longitude, --public-address)\n"+
		"are left out, with a warning.\n\n"+
		"--format gdnsd writes gdnsd 3's config and zones/<zone> into --out, its configuration\n"+
		"directory (gdnsd -c DIR), each file replaced at once; without --out, both go to standard\n"+
		"output. Load a change with gdnsdctl replace.")
	format := f.String("format", "", "configuration to write: gdnsd (required)")
	out := f.String("out", "", "directory to write the files into; empty: standard output")
	dbURL := f.databaseURL(dbHelp)
	geoipDB := f.String("geoip-db", "", "MaxMind City database (GeoLite2-City.mmdb or the like) placing clients (required); gdnsd\nreads it from this path and reloads it when it changes, so run narthex geodns on the DNS server")
	zone := f.String("zone", "", "DNS zone the server is authoritative for, such as cache.example.org (required)")
	name := f.String("name", geodns.DefaultName, "record served, relative to --zone: @ for the zone itself, or a name such as cache")
	ttl := f.Duration("ttl", geodns.DefaultTTL, "TTL of the answers (gdnsd halves it while an edge of the answer is down)")
	nameservers := f.String("nameservers", "", "comma-separated host names of the zone's name servers, for its SOA and NS records (required)")
	healthPort := f.Int("health-port", geodns.DefaultHealthPort, "port of every edge's plain-HTTP /readyz")
	healthInterval := f.Duration("health-interval", geodns.DefaultHealthInterval, "time between two checks of an edge, whole seconds from 2s")
	downAfter := f.Int("health-down-after", geodns.DefaultHealthDownAfter, "failed checks that take an edge out of answers")
	upAfter := f.Int("health-up-after", geodns.DefaultHealthUpAfter, "passed checks in a row that put it back")
	nearest := f.Int("nearest", geodns.DefaultNearest, "how many of a client's nearest edges its answer fails over through before the last resort")
	lastResort := f.String("last-resort", "", "comma-separated addresses answered when all of a client's --nearest edges are down;\nempty: every edge's addresses")
	options := f.String("gdnsd-options", "", "file of gdnsd options (listen, run_dir, ... as key => value lines) the config includes;\nempty: gdnsd's defaults (EDNS Client Subnet is always on)")
	if err := f.parse(args); err != nil {
		return err
	}
	switch *format {
	case "gdnsd":
	case "":
		return errors.New("--format is required: gdnsd")
	default:
		return fmt.Errorf("--format %q is not supported: gdnsd is", *format)
	}
	cfg := geodns.Config{Zone: *zone, Name: *name, TTL: *ttl, HealthPort: *healthPort, HealthInterval: *healthInterval,
		HealthDownAfter: *downAfter, HealthUpAfter: *upAfter, Nearest: *nearest}
	var err error
	if cfg.LastResort, err = parseAddresses("--last-resort", *lastResort); err != nil {
		return err
	}
	for _, ns := range strings.Split(*nameservers, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			cfg.Nameservers = append(cfg.Nameservers, ns)
		}
	}
	if *geoipDB == "" {
		return errors.New("--geoip-db is required: the City database placing clients")
	}
	if cfg.GeoIPDB, err = existingFile("--geoip-db", *geoipDB); err != nil {
		return err
	}
	if *options != "" {
		if cfg.OptionsFile, err = existingFile("--gdnsd-options", *options); err != nil {
			return err
		}
	}
	// Zero values would take the defaults: refuse them as the user typed
	// them.
	for _, v := range []struct {
		flag string
		zero bool
	}{{"--ttl", *ttl == 0}, {"--health-port", *healthPort == 0}, {"--health-interval", *healthInterval == 0},
		{"--health-down-after", *downAfter == 0}, {"--health-up-after", *upAfter == 0}, {"--nearest", *nearest == 0}} {
		if v.zero {
			return fmt.Errorf("%s 0 must be positive", v.flag)
		}
	}
	if err := cfg.Validate(); err != nil {
		return flagError(err, geodnsFlagNames)
	}
	db, err := connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := registry.List(ctx, db, 0)
	if err != nil {
		return err
	}
	edges := geoEdges(list, func(msg string) { fmt.Fprintf(os.Stderr, "narthex geodns: warning: %s\n", msg) })
	if len(edges) == 0 {
		return errors.New("no edge has both coordinates and an address to answer with (narthex edge --latitude, --longitude, --public-address)")
	}
	files, err := geodns.Gdnsd(cfg, edges)
	if err != nil {
		return err
	}
	for _, w := range files.Warnings {
		fmt.Fprintf(os.Stderr, "narthex geodns: warning: %s\n", w)
	}
	zonePath := filepath.Join("zones", files.ZoneName)
	if *out == "" {
		fmt.Printf("# config\n%s\n; %s\n%s", files.Config, zonePath, files.Zone)
		return nil
	}
	if err := os.MkdirAll(filepath.Join(*out, "zones"), 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for _, w := range []struct {
		path string
		data []byte
	}{{"config", files.Config}, {zonePath, files.Zone}} {
		if err := writeAtomic(filepath.Join(*out, w.path), w.data); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "narthex geodns: wrote %s and %s with %d edges\n",
		filepath.Join(*out, "config"), filepath.Join(*out, zonePath), len(edges))
	return nil
}

// geodnsFlagNames maps geodns.Config's fields to the flags of narthex
// geodns that set them.
var geodnsFlagNames = map[string]string{
	"Zone":            "--zone",
	"Name":            "--name",
	"TTL":             "--ttl",
	"Nameservers":     "--nameservers",
	"GeoIPDB":         "--geoip-db",
	"HealthPort":      "--health-port",
	"HealthInterval":  "--health-interval",
	"HealthDownAfter": "--health-down-after",
	"HealthUpAfter":   "--health-up-after",
	"Nearest":         "--nearest",
	"LastResort":      "--last-resort",
	"OptionsFile":     "--gdnsd-options",
}

// geoEdges are the edges of list GeoDNS can place and answer with; each
// one left out is told to warn.
func geoEdges(list []registry.Edge, warn func(string)) []geodns.Edge {
	var edges []geodns.Edge
	for _, e := range list {
		switch {
		case e.Latitude == nil || e.Longitude == nil:
			warn(fmt.Sprintf("edge %s has no coordinates (narthex edge --latitude, --longitude): left out", e.Name))
		case len(e.PublicAddresses) == 0:
			warn(fmt.Sprintf("edge %s has no address (narthex edge --public-address): left out", e.Name))
		default:
			edges = append(edges, geodns.Edge{Name: e.Name, Latitude: *e.Latitude, Longitude: *e.Longitude, Addresses: e.PublicAddresses})
		}
	}
	return edges
}

// existingFile is the absolute path of the file a flag names, which must
// exist.
func existingFile(flag, path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s %q is not a file", flag, path)
	}
	return abs, nil
}

// writeAtomic replaces the file at path with data at once: a reader sees
// the old file or the new, never part of one, and a crash leaves one of
// the two.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
