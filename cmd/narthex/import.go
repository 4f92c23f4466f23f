package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/narthex-cache/narthex/importer"
)

const importSummary = `Bulk-loads an existing binary cache into the origin: SOURCE is a directory that
"nix copy --to file://DIR" wrote (file:///DIR or DIR), or the http(s) URL of a
binary cache, in the Nix or the Guix dialect (StoreDir: /gnu/store in its
nix-cache-info). The PATHs (store paths, base names or hashes; or --paths-file)
are imported with their closures; a directory without PATHs is imported whole.
NAR files named by their hash (nar/<sha256>.nar.xz, as Nix names them) and by
their path (nar/gzip/<base name>, nar/lzip/..., nar/zstd/..., as Guix names
them) are taken; a file Guix names is decompressed and its NAR checked against
NarHash and NarSize.

Each path goes through the origin's upload API as "nix copy --to" sends it: its
NAR files, hashed first and refused unless their bytes match the narinfo, then
its narinfo byte for byte (the origin appends its Sig lines), references first.
Paths the origin has are skipped, so an interrupted import continues when run
again. A summary ends it: imported, already present, refused with the reason
(a refused path's dependents are refused too; the exit status is then 1).

--no-payload adopts an HTTP cache where it is: it is registered as a read-only
http store (--store-name) in the origin's database (--database-url), and its
NAR files are hashed and recorded there instead of uploaded.

Example:
  narthex token create importer > token
  narthex import file:///srv/old-cache --origin https://origin.example --token-file token
  narthex import https://cache.example.org /nix/store/...-hello --no-payload \
      --database-url postgres://... --token-file token`

// importFlagNames maps the Config fields of an import to the flags that set
// them.
var importFlagNames = map[string]string{
	"Source":    "SOURCE",
	"Origin":    "--origin",
	"Token":     "--token-file",
	"StoreDir":  "--store-dir",
	"Jobs":      "--jobs",
	"NoPayload": "--no-payload",
	"DB":        "--database-url",
	"StoreName": "--store-name",
	"TempDir":   "--tmp-dir",
}

func runImport(ctx context.Context, args []string) error {
	f := newFlags("import", importSummary)
	originURL := f.String("origin", "http://127.0.0.1:8080", "base URL of the origin to upload to")
	tokenFile := f.String("token-file", "", "file holding the origin's upload token (narthex token create)")
	pathsFile := f.String("paths-file", "", "file of store paths to import with their closures, one a line")
	storeDir := f.String("store-dir", "", "store directory of the source, checked against its nix-cache-info (/gnu/store for Guix)")
	jobs := f.Int("jobs", importer.DefaultJobs, "paths hashed and uploaded at once")
	noPayload := f.Bool("no-payload", false, "record the NAR files of an HTTP source where they are, in a read-only http store, instead of uploading them")
	storeName := f.String("store-name", "", "name of the http store of --no-payload (default: from the source's host)")
	dbURL := f.databaseURL("PostgreSQL connection string of the origin database, for --no-payload")
	tmpDir := f.String("tmp-dir", "", "directory for the NAR files of an HTTP source while they are hashed (default $TMPDIR)")
	asJSON := f.Bool("json", false, "print the summary as JSON")
	pos, err := parseImportArgs(f, args)
	if err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	if *tokenFile == "" {
		return errors.New("--token-file is required (make a token with narthex token create)")
	}
	token, err := readSecret("token-file", *tokenFile)
	if err != nil {
		return err
	}
	cfg := importer.Config{
		Source:    pos[0],
		Paths:     pos[1:],
		Origin:    *originURL,
		Token:     token,
		StoreDir:  *storeDir,
		Jobs:      *jobs,
		NoPayload: *noPayload,
		StoreName: *storeName,
		TempDir:   *tmpDir,
		Logger:    log,
	}
	if *pathsFile != "" {
		paths, err := readPathsFile(*pathsFile)
		if err != nil {
			return err
		}
		cfg.Paths = append(cfg.Paths, paths...)
	}
	if *noPayload {
		url, err := dbURL()
		if err != nil {
			return fmt.Errorf("--no-payload records locations in the origin's database: %w", err)
		}
		db, err := pgxpool.New(ctx, url)
		if err != nil {
			return fmt.Errorf("--database-url: %w", err)
		}
		defer db.Close()
		cfg.DB = db
	}
	if err := cfg.Validate(); err != nil {
		return flagError(err, importFlagNames)
	}
	done := showProgress(&cfg, log)
	sum, err := importer.Run(ctx, cfg)
	done()
	if sum != nil {
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if werr := enc.Encode(sum); werr != nil {
				return werr
			}
		} else if werr := sum.WriteTable(os.Stdout); werr != nil {
			return werr
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return errors.New("interrupted; run the same import again to continue")
	case err != nil:
		return err
	case len(sum.Refused) > 0:
		return fmt.Errorf("%d paths refused (listed above)", len(sum.Refused))
	}
	return nil
}

// parseImportArgs parses the flags and returns SOURCE and the PATHs.
func parseImportArgs(f *flags, args []string) ([]string, error) {
	pos, err := parseInterspersed(f.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(os.Stdout, "Usage: narthex import SOURCE [PATH...] [flags]\n\n"+importSummary+"\n\n")
		fmt.Fprint(os.Stdout, "Flags may come before or after the arguments; \"--\" ends the flags.\n\nFlags:\n")
		f.SetOutput(os.Stdout)
		f.PrintDefaults()
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w (see narthex import -h)", err)
	}
	if len(f.envErrs) > 0 {
		return nil, fmt.Errorf("bad environment: %s", strings.Join(f.envErrs, "; "))
	}
	if len(pos) == 0 {
		return nil, errors.New("missing SOURCE (see narthex import -h)")
	}
	return pos, nil
}

// readPathsFile reads store paths, one a line; blank lines and lines
// starting with # are skipped.
func readPathsFile(name string) ([]string, error) {
	file, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("--paths-file: %w", err)
	}
	defer file.Close()
	var paths []string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		paths = append(paths, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--paths-file %s: %w", name, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("--paths-file %s names no paths", name)
	}
	return paths, nil
}

// showProgress sets cfg.Progress to draw a progress bar on standard error
// when that is a terminal, and to log a line every progressLogInterval
// otherwise. The returned function ends the bar.
func showProgress(cfg *importer.Config, log *slog.Logger) func() {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		cfg.ProgressInterval = progressLogInterval
		cfg.Progress = func(p importer.Progress) {
			if p.Planning {
				log.Info("finding the paths to import", "looked_up", p.Checked)
				return
			}
			log.Info("import progress", "done", p.Done, "total", p.Total, "imported", p.Imported,
				"refused", p.Refused, "already_present", p.AlreadyPresent, "bytes", p.Bytes)
		}
		return func() {}
	}
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("paths"),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(200*time.Millisecond),
	)
	cfg.ProgressInterval = 200 * time.Millisecond
	cfg.Progress = func(p importer.Progress) {
		if p.Planning {
			bar.Describe(fmt.Sprintf("finding the paths to import (%d looked up)", p.Checked))
			bar.Add(0)
			return
		}
		if bar.GetMax() != p.Total {
			bar.ChangeMax(p.Total)
		}
		bar.Describe(fmt.Sprintf("importing (%d refused, %d MiB)", p.Refused, p.Bytes>>20))
		bar.Set(p.Done)
	}
	return func() {
		bar.Finish()
	}
}
