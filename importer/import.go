package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/placement"
)

// importer is one run of Run.
type importer struct {
	cfg      Config
	src      source
	origin   *originClient
	storeDir string
	storeID  int32 // the http store of NoPayload
	log      *slog.Logger
	sum      *Summary
}

// Run imports the paths cfg names from its source into its origin and
// says what it did. Before anything is recorded it checks that the source
// is a binary cache of the origin's store directory and that the origin
// takes the token; then it walks the closures to import, and imports
// them, references first, Jobs at a time. A path refused (its bytes do
// not match its narinfo, the origin refuses it) is listed in the summary
// with the paths that depend on it; the others are imported. An error
// (the source or the origin out of reach, the origin failing, ctx ending)
// stops the import: the summary then says what was done, and running it
// again continues.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := newHTTPClient(cfg)
	defer client.CloseIdleConnections()
	src, err := openSource(cfg.Source, client)
	if err != nil {
		return nil, err
	}
	im := &importer{
		cfg:    cfg,
		src:    src,
		origin: &originClient{base: strings.TrimRight(cfg.Origin, "/"), token: cfg.Token, client: client},
		log:    cfg.Logger.With("component", "import"),
		sum:    &Summary{Source: cfg.Source, Refused: []Refused{}},
	}
	roots, names, err := im.prepare(ctx)
	if err != nil {
		return nil, err
	}
	if err := im.origin.check(ctx, im.storeDir); err != nil {
		return nil, err
	}
	if cfg.NoPayload {
		name := cfg.StoreName
		if name == "" {
			name = defaultStoreName(src.baseURL())
		}
		if !placement.ValidName.MatchString(name) {
			return nil, fmt.Errorf("no store name can be derived from %s: give one", cfg.Source)
		}
		if im.storeID, err = registerStore(ctx, cfg.DB, name, src.baseURL()); err != nil {
			return nil, err
		}
		im.sum.Store = name
	}
	im.log.Info("planning", "source", cfg.Source, "paths", len(roots), "store_dir", im.storeDir)
	p, err := im.makePlan(ctx, roots, names)
	if err != nil {
		return im.sum, err
	}
	im.sum.AlreadyPresent = len(p.present)
	im.log.Info("importing", "paths", len(p.entries), "already_present", len(p.present), "jobs", cfg.Jobs)
	err = im.importAll(ctx, p)
	im.log.Info("import done", "imported", im.sum.Imported, "already_present", im.sum.AlreadyPresent,
		"refused", len(im.sum.Refused), "nar_files", im.sum.Files, "bytes", im.sum.Bytes, "err", err)
	return im.sum, err
}

// prepare checks that the source is a binary cache, settles the store
// directory, and returns the hashes to import with what to call them.
func (im *importer) prepare(ctx context.Context) ([]string, map[string]string, error) {
	info, err := readSmall(ctx, im.src, "nix-cache-info")
	if isNotInSource(err) {
		return nil, nil, fmt.Errorf("source %s is %w: it has no nix-cache-info", im.cfg.Source, ErrNotCache)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", im.cfg.Source, err)
	}
	im.storeDir = cacheStoreDir(info)
	switch {
	case im.storeDir == "":
		return nil, nil, fmt.Errorf("source %s is %w: its nix-cache-info has no StoreDir", im.cfg.Source, ErrNotCache)
	case im.cfg.StoreDir != "" && im.cfg.StoreDir != im.storeDir:
		return nil, nil, fmt.Errorf("source %s has store directory %s, not %s", im.cfg.Source, im.storeDir, im.cfg.StoreDir)
	}
	if err := narinfo.CheckStoreDir(im.storeDir); err != nil {
		return nil, nil, fmt.Errorf("source %s: StoreDir %q: %w", im.cfg.Source, im.storeDir, err)
	}
	names := map[string]string{}
	if len(im.cfg.Paths) > 0 {
		roots := make([]string, 0, len(im.cfg.Paths))
		for _, arg := range im.cfg.Paths {
			h, err := parseRoot(im.storeDir, arg)
			if err != nil {
				return nil, nil, err
			}
			roots = append(roots, h)
			switch {
			case strings.HasPrefix(arg, "/"):
				names[h] = arg
			case arg != h:
				names[h] = im.storeDir + "/" + arg
			}
		}
		return roots, names, nil
	}
	roots, err := im.src.list(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", im.cfg.Source, err)
	}
	if len(roots) == 0 {
		return nil, nil, fmt.Errorf("source %s is %w: it has no narinfos", im.cfg.Source, ErrNotCache)
	}
	slices.Sort(roots)
	return roots, names, nil
}

func isNotInSource(err error) bool { return errors.Is(err, errNotInSource) }
