package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/narthex-cache/narthex/config"
	"github.com/narthex-cache/narthex/placement"
	"github.com/narthex-cache/narthex/stores"
)

const storesUsage = `usage: narthex stores <action> [flags]

Actions:
  add NAME --kind K   check that a store is reachable, then record it with its policy
  list                the stores and their policies
  show NAME           what a store holds, what was verified, what is left to do
  set NAME            change a store's policy; flags not given keep their values
  delete NAME         forget a store that holds nothing (--force: forget its copies too)
  missing NAME        the NAR files the store has no good copy of (what populate copies in)
  maintain            make placement match the policies: verify, populate, drain, evict, sweep

Run "narthex stores <action> -h" for an action's flags.
`

var storesActions = map[string]command{
	"add":      runStoresAdd,
	"list":     runStoresList,
	"show":     runStoresShow,
	"set":      runStoresSet,
	"delete":   runStoresDelete,
	"missing":  runStoresMissing,
	"maintain": runStoresMaintain,
}

func runStores(ctx context.Context, args []string) error {
	return dispatch(ctx, args, "action", storesUsage, storesActions,
		": want add, list, show, set, delete, missing or maintain (see narthex stores -h)")
}

// dispatch runs the subcommand args[0] of a command made of subcommands
// (what names them: action, mode), printing usage on -h; hint follows the
// error that names an unknown one.
func dispatch(ctx context.Context, args []string, what, usage string, subs map[string]command, hint string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("no %s given", what)
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stdout, usage)
		return flag.ErrHelp
	}
	sub, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("unknown %s %q%s", what, args[0], hint)
	}
	return sub(ctx, args[1:])
}

const storeNameHelp = "NAME is " + placement.NameRule + "."

const sizeHelp = "A SIZE is a number of bytes, with an optional unit: K, M, G, T, P (or KiB, MiB, GiB, TiB, PiB) count in powers of 1024, KB, MB, GB, TB, PB in powers of 1000: 10G, 500MiB, 1.5T."

const policyHelp = `Policy: upload and download priorities are tried in descending order, an unset one counted lowest.
--populate has maintenance copy every payload the store lacks into it; --drain moves every
payload out (--drain=TARGET into the store TARGET); --read-only takes no new payloads;
--write-only is never downloaded from (a backup); --soft-max-size is the size maintenance
moves payloads out past, --max-size the size never exceeded.`

// openStore opens the store a row describes, to probe it: kind and
// settings are its columns, dir the directory of a local store.
func openStore(ctx context.Context, kind string, settings []byte, baseURL, dir string) (placement.Objects, error) {
	return stores.OpenKind(ctx, kind, settings, baseURL, dir)
}

// opt is a flag that records whether it was given, on the command line or
// by its environment variable. Its value is parsed after the flags, so
// that an error names the flag, and "none" can unset a nullable column.
type opt struct {
	value  string
	given  bool
	isBool bool
}

func (o *opt) String() string {
	if o == nil {
		return ""
	}
	return o.value
}

func (o *opt) Set(s string) error { o.value, o.given = s, true; return nil }

// IsBoolFlag lets a boolean opt be given alone: --populate is --populate=true.
func (o *opt) IsBoolFlag() bool { return o.isBool }

// opt defines an opt flag, given when its environment variable is set.
func (f *flags) opt(name, help string, isBool bool) *opt {
	o := &opt{isBool: isBool}
	if v, ok := f.envDefault(name); ok {
		o.Set(v)
	}
	f.Var(o, name, help+" ($"+envName(name)+")")
	return o
}

// policyFlags are the flags add and set share. Each parsed flag becomes a
// change of the store, so that set changes only the fields given.
type policyFlags struct {
	baseURL, lat, lon, upload, download, softMax, max *opt
	populate, drain, readOnly, writeOnly              *opt
	// The --no-* flags of set.
	noPopulate, noDrain, noReadOnly, noWriteOnly *opt
}

func newPolicyFlags(f *flags, set bool) *policyFlags {
	unset := ""
	if set {
		unset = "; none unsets it"
	}
	p := &policyFlags{
		baseURL:   f.opt("base-url", "public URL clients download from: the origin's public URL for a local store, the mirror's for http; for s3, the bucket's public URL, or none for presigned downloads", false),
		lat:       f.opt("lat", "latitude of the store, in degrees (with --lon)"+unset, false),
		lon:       f.opt("lon", "longitude of the store, in degrees (with --lat)"+unset, false),
		upload:    f.opt("upload-priority", "upload priority, an integer; higher first"+unset, false),
		download:  f.opt("download-priority", "download priority, an integer; higher first"+unset, false),
		softMax:   f.opt("soft-max-size", "SIZE maintenance moves payloads out past"+unset, false),
		max:       f.opt("max-size", "SIZE never exceeded"+unset, false),
		populate:  f.opt("populate", "copy every payload the store lacks into it", true),
		drain:     f.opt("drain", "move every payload out; --drain=TARGET moves them into the store TARGET", true),
		readOnly:  f.opt("read-only", "write nothing new to the store", true),
		writeOnly: f.opt("write-only", "never download from the store (a backup)", true),
	}
	if set {
		p.noPopulate = f.opt("no-populate", "stop populating (as --populate=false)", true)
		p.noDrain = f.opt("no-drain", "stop draining (as --drain=false)", true)
		p.noReadOnly = f.opt("no-read-only", "take new payloads again (as --read-only=false)", true)
		p.noWriteOnly = f.opt("no-write-only", "download from the store again (as --write-only=false)", true)
	}
	return p
}

// given reports whether any policy flag was given.
func (p *policyFlags) given() bool {
	for _, o := range []*opt{p.baseURL, p.lat, p.lon, p.upload, p.download, p.softMax, p.max,
		p.populate, p.drain, p.readOnly, p.writeOnly, p.noPopulate, p.noDrain, p.noReadOnly, p.noWriteOnly} {
		if o != nil && o.given {
			return true
		}
	}
	return false
}

// changes parses the given flags into changes of a store, or says which
// flag is wrong.
func (p *policyFlags) changes() ([]func(*placement.Store), error) {
	var out []func(*placement.Store)
	add := func(c func(*placement.Store)) { out = append(out, c) }
	if p.baseURL.given {
		v := p.baseURL.value
		if v == "none" {
			v = ""
		}
		add(func(s *placement.Store) { s.BaseURL = v })
	}
	parseFloat := func(s string) (float64, error) {
		f, err := strconv.ParseFloat(s, 64)
		if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			err = errors.New("not a finite number")
		}
		return f, err
	}
	parseInt32 := func(s string) (int32, error) {
		n, err := strconv.ParseInt(s, 10, 32)
		return int32(n), err
	}
	for _, err := range []error{
		setOptional(add, "lat", p.lat, parseFloat, func(s *placement.Store, v *float64) { s.Latitude = v }),
		setOptional(add, "lon", p.lon, parseFloat, func(s *placement.Store, v *float64) { s.Longitude = v }),
		setOptional(add, "upload-priority", p.upload, parseInt32, func(s *placement.Store, v *int32) { s.UploadPriority = v }),
		setOptional(add, "download-priority", p.download, parseInt32, func(s *placement.Store, v *int32) { s.DownloadPriority = v }),
		setOptional(add, "soft-max-size", p.softMax, parseSize, func(s *placement.Store, v *int64) { s.SoftMaxSize = v }),
		setOptional(add, "max-size", p.max, parseSize, func(s *placement.Store, v *int64) { s.MaxSize = v }),
	} {
		if err != nil {
			return nil, err
		}
	}
	for _, c := range []struct {
		name, no string
		o, noO   *opt
		set      func(*placement.Store, bool)
	}{
		{"populate", "no-populate", p.populate, p.noPopulate, func(s *placement.Store, v bool) { s.Populate = v }},
		{"read-only", "no-read-only", p.readOnly, p.noReadOnly, func(s *placement.Store, v bool) { s.ReadOnly = v }},
		{"write-only", "no-write-only", p.writeOnly, p.noWriteOnly, func(s *placement.Store, v bool) { s.WriteOnly = v }},
	} {
		v, given, err := parseSwitch(c.name, c.o, c.no, c.noO)
		if err != nil {
			return nil, err
		}
		if given {
			add(func(s *placement.Store) { c.set(s, v) })
		}
	}
	// --drain takes a boolean or the name of the store to drain into.
	drain, given, err := parseSwitch("drain", &opt{}, "no-drain", p.noDrain)
	if err != nil {
		return nil, err
	}
	target := ""
	if p.drain.given {
		if given {
			return nil, errors.New("--drain and --no-drain contradict each other")
		}
		given = true
		if b, err := strconv.ParseBool(p.drain.value); err == nil {
			drain = b
		} else {
			drain, target = true, p.drain.value
		}
	}
	if given {
		add(func(s *placement.Store) { s.Drain, s.DrainTo = drain, target })
	}
	return out, nil
}

// setOptional adds the change that sets a nullable field from flag o
// (name), when it was given: parsed, or nil for "none".
func setOptional[T any](add func(func(*placement.Store)), name string, o *opt, parse func(string) (T, error), set func(*placement.Store, *T)) error {
	v, err := parseOptional(name, o, parse)
	if err != nil {
		return err
	}
	if o.given {
		add(func(s *placement.Store) { set(s, v) })
	}
	return nil
}

// parseOptional parses a given opt with parse, "none" as nil.
func parseOptional[T any](name string, o *opt, parse func(string) (T, error)) (*T, error) {
	if !o.given || o.value == "none" {
		return nil, nil
	}
	v, err := parse(o.value)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %w", name, o.value, unwrapNum(err))
	}
	return &v, nil
}

// unwrapNum drops strconv's restating of the input, which the caller names.
func unwrapNum(err error) error {
	if ne, ok := errors.AsType[*strconv.NumError](err); ok {
		return ne.Err
	}
	return err
}

// parseSwitch reads a boolean flag and its --no- twin: the value, whether
// either was given, and an error naming the flag when they contradict or
// a value is not a boolean.
func parseSwitch(name string, o *opt, no string, noO *opt) (value, given bool, err error) {
	if o.given {
		value, err = strconv.ParseBool(o.value)
		if err != nil {
			return false, false, fmt.Errorf("--%s=%q: not true or false", name, o.value)
		}
		given = true
	}
	if noO != nil && noO.given {
		off, err := strconv.ParseBool(noO.value)
		if err != nil {
			return false, false, fmt.Errorf("--%s=%q: not true or false", no, noO.value)
		}
		if given {
			return false, false, fmt.Errorf("--%s and --%s contradict each other", name, no)
		}
		return !off, true, nil
	}
	return value, given, nil
}

// sizeSyntax is a SIZE as sizeHelp describes it.
var sizeSyntax = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]*)$`)

// sizeUnits are the units of a SIZE, by their lower-case spelling.
var sizeUnits = map[string]int64{"": 1, "b": 1}

func init() {
	binary, decimal := int64(1), int64(1)
	for _, p := range []string{"k", "m", "g", "t", "p"} {
		binary *= 1024
		decimal *= 1000
		sizeUnits[p], sizeUnits[p+"ib"], sizeUnits[p+"b"] = binary, binary, decimal
	}
}

// parseSize reads a SIZE: bytes, whole or with a unit, rounded down to a
// whole byte. It refuses negative numbers, unknown units and sizes past
// what a bigint column holds.
func parseSize(s string) (int64, error) {
	m := sizeSyntax.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, errors.New("not a size (a number of bytes, with an optional unit such as 10G or 500MiB)")
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (want K, M, G, T, P, KiB…PiB or KB…PB)", m[2])
	}
	n, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, errors.New("not a size")
	}
	n.Mul(n, new(big.Rat).SetInt64(unit))
	whole := new(big.Int).Quo(n.Num(), n.Denom())
	if !whole.IsInt64() {
		return 0, errors.New("too large (at most 8EiB)")
	}
	return whole.Int64(), nil
}

// formatSize writes n bytes in the largest binary unit that keeps a
// number of at least 1.
func formatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/1024, 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}

// storeFlagNames maps placement.Store's fields to the flags that set them.
var storeFlagNames = map[string]string{
	"Name":             "store name",
	"Kind":             "--kind",
	"BaseURL":          "--base-url",
	"Latitude":         "--lat",
	"Longitude":        "--lon",
	"UploadPriority":   "--upload-priority",
	"DownloadPriority": "--download-priority",
	"Populate":         "--populate",
	"Drain":            "--drain",
	"DrainTo":          "--drain",
	"ReadOnly":         "--read-only",
	"WriteOnly":        "--write-only",
	"SoftMaxSize":      "--soft-max-size",
	"MaxSize":          "--max-size",
}

// settingsFlags names the flag behind a kind setting, by the start of the
// problem stores.S3Settings.Validate or placement's local settings check
// reports.
var settingsFlags = []struct{ prefix, flag string }{
	{"s3: endpoint", "--endpoint"},
	{"s3: region", "--region"},
	{"s3: bucket", "--bucket"},
	{"s3: prefix", "--prefix"},
	{"s3: presign expiry", "--presign-expiry"},
	{"dir ", "--dir"},
}

// storeError says a registry error in terms of the flags the user typed.
func storeError(err error) error {
	ce, ok := errors.AsType[*config.Error](err)
	if !ok {
		return err
	}
	if ce.Field == "Settings" {
		for _, s := range settingsFlags {
			if strings.HasPrefix(ce.Why, s.prefix) {
				return fmt.Errorf("%s: %s", s.flag, ce.Why)
			}
		}
		return errors.New("settings: " + ce.Why)
	}
	return flagError(err, storeFlagNames)
}

// parseConnect parses args into f and connects to the origin database its
// flags name.
func parseConnect(ctx context.Context, f *flags, args []string, dbURL func() (string, error)) (*pgxpool.Pool, error) {
	if err := f.parse(args); err != nil {
		return nil, err
	}
	return connect(ctx, dbURL)
}

// connect opens the origin database.
func connect(ctx context.Context, dbURL func() (string, error)) (*pgxpool.Pool, error) {
	url, err := dbURL()
	if err != nil {
		return nil, err
	}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	return db, nil
}

const dbHelp = "PostgreSQL connection string of the origin database"

func runStoresAdd(ctx context.Context, args []string) error {
	f := newFlags("stores add", "Checks that a store is reachable, then records it with its policy. A store that can be\n"+
		"written gets a probe object written, read back and deleted; a read-only one is asked for\n"+
		"nix-cache-info, which an http mirror must serve. An unreachable store is not recorded.\n\n"+
		"Kinds: local (a directory on the origin's machine, given by --dir as an absolute path,\n"+
		"downloaded from the origin: --base-url is the origin's public URL); s3 (an S3-compatible\n"+
		"bucket: --endpoint, --region, --bucket, optional --prefix, --path-style, --presign-expiry,\n"+
		"--profile; credentials come from the AWS SDK's environment and shared files, never a flag);\n"+
		"http (a read-only mirror at --base-url, another binary cache).\n\n"+
		storeNameHelp+"\n"+sizeHelp+"\n\n"+policyHelp)
	name := f.arg("NAME")
	kind := f.String("kind", "", "kind of store: local, s3 or http")
	region := f.String("region", "", "region of the store, free text; for s3 also the bucket's region")
	dir := f.String("dir", "", "local: absolute path of the store's directory")
	endpoint := f.String("endpoint", "", "s3: the service's base URL (https://s3.eu-central-1.amazonaws.com)")
	bucket := f.String("bucket", "", "s3: bucket name")
	prefix := f.String("prefix", "", "s3: key prefix in the bucket (cache/), empty for none")
	pathStyle := f.Bool("path-style", false, "s3: address the bucket as <endpoint>/<bucket> instead of <bucket>.<endpoint host>")
	presignExpiry := f.String("presign-expiry", "", "s3: validity of presigned download URLs, as a duration (default 15m)")
	profile := f.String("profile", "", "s3: credentials profile of the shared AWS files, empty for the SDK's default chain")
	policy := newPolicyFlags(f, false)
	dbURL := f.databaseURL(dbHelp)
	if err := f.parse(args); err != nil {
		return err
	}
	st := placement.Store{Name: *name, Kind: *kind, Region: *region}
	changes, err := policy.changes()
	if err != nil {
		return err
	}
	for _, c := range changes {
		c(&st)
	}
	s3Flags := map[string]bool{"endpoint": *endpoint != "", "bucket": *bucket != "", "prefix": *prefix != "",
		"path-style": *pathStyle, "presign-expiry": *presignExpiry != "", "profile": *profile != ""}
	var settings any
	switch *kind {
	case "":
		return errors.New("--kind is required: local, s3 or http")
	case stores.KindLocal:
		if *dir == "" {
			return errors.New("--dir is required with --kind local")
		}
		if !filepath.IsAbs(*dir) {
			return fmt.Errorf("--dir %q is not an absolute path", *dir)
		}
		settings = stores.LocalSettings{Dir: filepath.Clean(*dir)}
	case stores.KindS3:
		settings = stores.S3Settings{Endpoint: *endpoint, Region: *region, Bucket: *bucket, Prefix: *prefix,
			PathStyle: *pathStyle, PresignExpiry: *presignExpiry, Profile: *profile}
	default:
		settings = struct{}{}
	}
	if *kind != stores.KindS3 {
		for _, flagName := range []string{"endpoint", "bucket", "prefix", "path-style", "presign-expiry", "profile"} {
			if s3Flags[flagName] {
				return fmt.Errorf("--%s is for --kind s3 only", flagName)
			}
		}
	}
	if *kind != stores.KindLocal && *dir != "" {
		return errors.New("--dir is for --kind local only")
	}
	if st.Settings, err = json.Marshal(settings); err != nil {
		return err
	}
	if err := st.Validate(); err != nil {
		return storeError(err)
	}
	db, err := connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	// A name taken or a drain target unknown is refused before the store
	// is probed; Add checks both again, atomically.
	if _, err := placement.Get(ctx, db, st.Name); err == nil {
		return fmt.Errorf("add store %q: %w", st.Name, placement.ErrStoreExists)
	}
	if st.DrainTo != "" {
		if _, err := placement.Get(ctx, db, st.DrainTo); errors.Is(err, placement.ErrUnknownStore) {
			return fmt.Errorf("--drain=%s: %w", st.DrainTo, err)
		}
	}
	objects, err := openStore(ctx, st.Kind, st.Settings, st.BaseURL, *dir)
	if err != nil {
		return fmt.Errorf("store %q %w: %w", st.Name, placement.ErrUnreachable, err)
	}
	if err := placement.Probe(ctx, st, objects); err != nil {
		return err
	}
	if _, err := placement.Add(ctx, db, st); err != nil {
		return storeError(err)
	}
	return nil
}

func runStoresSet(ctx context.Context, args []string) error {
	f := newFlags("stores set", "Changes the policy of the store NAME: only the flags given change; the result is checked\n"+
		"as add checks a new store, and nothing changes when it fails. Nullable values (priorities,\n"+
		"sizes, coordinates) are unset with none; switches with --no-populate or --populate=false.\n\n"+
		sizeHelp+"\n\n"+policyHelp)
	name := f.arg("NAME")
	policy := newPolicyFlags(f, true)
	dbURL := f.databaseURL(dbHelp)
	if err := f.parse(args); err != nil {
		return err
	}
	if !policy.given() {
		return errors.New("nothing to change: give a policy flag (see narthex stores set -h)")
	}
	changes, err := policy.changes()
	if err != nil {
		return err
	}
	db, err := connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = placement.Set(ctx, db, *name, func(s *placement.Store) {
		for _, c := range changes {
			c(s)
		}
	})
	return storeError(err)
}

func runStoresDelete(ctx context.Context, args []string) error {
	f := newFlags("stores delete", "Forgets the store NAME. A store that still holds payloads is refused: drain it first\n"+
		"(narthex stores set NAME --drain, then let maintenance move them). --force forgets its\n"+
		"payload locations with it, but never the last good copy of a payload. A store another\n"+
		"store drains into is refused. The store's files are left where they are.")
	name := f.arg("NAME")
	force := f.Bool("force", false, "forget the store's payload locations too")
	dbURL := f.databaseURL(dbHelp)
	db, err := parseConnect(ctx, f, args, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	err = placement.Delete(ctx, db, *name, *force)
	switch {
	case errors.Is(err, placement.ErrNotEmpty):
		return fmt.Errorf("%w (narthex stores set %s --drain), or give --force to forget its copies", err, *name)
	case errors.Is(err, placement.ErrLastCopy):
		return fmt.Errorf("%w: copy them to another store first (set --populate on it, or --drain on %s, and run maintenance)", err, *name)
	}
	return err
}

func runStoresList(ctx context.Context, args []string) error {
	f := newFlags("stores list", "Lists the stores and their policies.")
	asJSON := f.Bool("json", false, "print JSON instead of a table")
	dbURL := f.databaseURL(dbHelp)
	db, err := parseConnect(ctx, f, args, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := placement.List(ctx, db)
	if err != nil {
		return err
	}
	if list == nil {
		list = []placement.Store{}
	}
	return report(*asJSON, list, func(w io.Writer) error { return writeStoreList(w, list) })
}

// writeStoreList writes the stores as a table.
func writeStoreList(w io.Writer, list []placement.Store) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tUP\tDOWN\tPOLICY\tSOFT MAX\tMAX\tREGION\tLAT,LON\tBASE URL")
	for _, s := range list {
		coords := "-"
		if s.Latitude != nil && s.Longitude != nil {
			coords = fmt.Sprintf("%g,%g", *s.Latitude, *s.Longitude)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind,
			orDash(s.UploadPriority, func(v int32) string { return strconv.Itoa(int(v)) }),
			orDash(s.DownloadPriority, func(v int32) string { return strconv.Itoa(int(v)) }),
			policyWords(s), orDash(s.SoftMaxSize, formatSize), orDash(s.MaxSize, formatSize),
			dashIfEmpty(s.Region), coords, dashIfEmpty(s.BaseURL))
	}
	return tw.Flush()
}

func orDash[T any](v *T, format func(T) string) string {
	if v == nil {
		return "-"
	}
	return format(*v)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// policyWords names a store's switches: "populate,read-only", "drain→new".
func policyWords(s placement.Store) string {
	var w []string
	if s.Populate {
		w = append(w, "populate")
	}
	if s.Drain {
		if s.DrainTo != "" {
			w = append(w, "drain→"+s.DrainTo)
		} else {
			w = append(w, "drain")
		}
	}
	if s.ReadOnly {
		w = append(w, "read-only")
	}
	if s.WriteOnly {
		w = append(w, "write-only")
	}
	if len(w) == 0 {
		return "-"
	}
	return strings.Join(w, ",")
}

func runStoresShow(ctx context.Context, args []string) error {
	f := newFlags("stores show", "Summarizes the store NAME: the files and bytes it holds against its limits, its\n"+
		"locations good, missing and corrupt, how many were verified and the oldest verification,\n"+
		"the payloads with no good copy anywhere, what populate has left, and the running job.")
	name := f.arg("NAME")
	asJSON := f.Bool("json", false, "print JSON instead of a table")
	dbURL := f.databaseURL(dbHelp)
	db, err := parseConnect(ctx, f, args, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := placement.Show(ctx, db, *name)
	if err != nil {
		return err
	}
	return report(*asJSON, s, func(w io.Writer) error { return writeSummary(w, s, time.Now()) })
}

// writeSummary writes what Show says of a store as a two-column table.
func writeSummary(w io.Writer, s placement.Summary, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	st := s.Store
	fmt.Fprintf(tw, "store\t%s (%s%s)\n", st.Name, st.Kind, prefixed(", ", st.Region))
	fmt.Fprintf(tw, "policy\t%s; upload priority %s, download priority %s\n", policyWords(st),
		orDash(st.UploadPriority, func(v int32) string { return strconv.Itoa(int(v)) }),
		orDash(st.DownloadPriority, func(v int32) string { return strconv.Itoa(int(v)) }))
	fmt.Fprintf(tw, "files\t%d (%s)\n", s.Files, formatSize(s.Bytes))
	var limits []string
	for _, l := range []struct {
		name string
		v    *int64
	}{{"soft max", st.SoftMaxSize}, {"max", st.MaxSize}} {
		if l.v != nil {
			limits = append(limits, fmt.Sprintf("%s of %s %s", share(s.Bytes, *l.v), formatSize(*l.v), l.name))
		}
	}
	if len(limits) > 0 {
		fmt.Fprintf(tw, "limits\t%s\n", strings.Join(limits, ", "))
	}
	fmt.Fprintf(tw, "locations\t%d good, %d missing, %d corrupt\n", s.Files, s.Missing, s.Corrupt)
	verified := fmt.Sprintf("%d of %d good, %d never", s.Verified, s.Files, s.Unverified())
	if s.OldestVerification != nil {
		verified += fmt.Sprintf("; oldest %s (%s ago)", s.OldestVerification.UTC().Format(time.RFC3339),
			now.Sub(*s.OldestVerification).Round(time.Second))
	}
	fmt.Fprintf(tw, "verified\t%s\n", verified)
	if s.NoGoodCopy > 0 {
		fmt.Fprintf(tw, "no good copy\t%d payloads located here have no good copy anywhere: their narinfos are out of service\n", s.NoGoodCopy)
	}
	if s.ToPopulate != nil {
		fmt.Fprintf(tw, "to populate\t%d files (narthex stores missing %s)\n", *s.ToPopulate, st.Name)
	}
	if j := s.Job; j != nil {
		line := fmt.Sprintf("%s #%d: %d of %d done (%s), %s, %d failed; started %s, updated %s ago", j.Kind, j.ID, j.Done, j.Total,
			share(j.Done, j.Total), formatSize(j.Bytes), j.Failed, j.StartedAt.UTC().Format(time.RFC3339), now.Sub(j.UpdatedAt).Round(time.Second))
		if j.Error != "" {
			line += "; last error: " + j.Error
		}
		fmt.Fprintf(tw, "job\t%s\n", line)
	} else {
		fmt.Fprintf(tw, "job\tnone running\n")
	}
	return tw.Flush()
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// share is part of whole as a percentage.
func share(part, whole int64) string {
	if whole <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

func runStoresMissing(ctx context.Context, args []string) error {
	f := newFlags("stores missing", "Lists, one URL a line, the NAR files the store NAME has no good copy of: what\n"+
		"populate copies in. A copy found missing or corrupt there counts as none.")
	name := f.arg("NAME")
	dbURL := f.databaseURL(dbHelp)
	db, err := parseConnect(ctx, f, args, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	out := bufio.NewWriter(os.Stdout)
	err = placement.Missing(ctx, db, *name, func(file placement.File) error {
		_, err := fmt.Fprintln(out, file.URL)
		return err
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}
