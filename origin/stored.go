package origin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/narthex-cache/narthex/narinfo"
)

// existing is what the checks of a narinfo upload read from the database:
// the stored narinfo of its hash, the NAR files it lists and the paths it
// references.
type existing struct {
	body    *string           // the stored narinfo of the hash, or nil
	files   []narFile         // the uploaded NAR files among those it lists
	present map[string]string // hash to name of the stored paths among its references
}

// readExisting reads what the checks of ni need, in one round trip: the
// stored narinfo of its hash, the NAR files it lists, and the stored paths
// among refs.
func (s *Server) readExisting(ctx context.Context, ni *narinfo.NarInfo, refs []string) (existing, error) {
	urls := make([]string, len(ni.Files))
	for i, f := range ni.Files {
		urls[i] = f.URL
	}
	st := existing{present: map[string]string{}}
	batch := &pgx.Batch{}
	batch.Queue(qNarinfoBody, ni.Hash).QueryRow(func(row pgx.Row) error {
		var body string
		switch err := row.Scan(&body); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("read narinfo: %w", err)
		}
		st.body = &body
		return nil
	})
	batch.Queue(qNarFiles, urls).Query(func(rows pgx.Rows) error {
		var err error
		st.files, err = pgx.CollectRows(rows, pgx.RowToStructByPos[narFile])
		if err != nil {
			return fmt.Errorf("read nar_file: %w", err)
		}
		return nil
	})
	if len(refs) > 0 {
		batch.Queue(qPresentPaths, refs).Query(func(rows pgx.Rows) error {
			var hash, name string
			_, err := pgx.ForEachRow(rows, []any{&hash, &name}, func() error {
				st.present[hash] = name
				return nil
			})
			if err != nil {
				return fmt.Errorf("read referenced narinfos: %w", err)
			}
			return nil
		})
	}
	if err := s.db.SendBatch(ctx, batch).Close(); err != nil {
		return existing{}, err
	}
	return st, nil
}

// compareStored compares ni with body, the stored narinfo of its hash. It
// returns nil when they are equal and a 409 when they differ.
func (s *Server) compareStored(body string, ni *narinfo.NarInfo) error {
	stored, err := narinfo.Parse([]byte(body), s.cfg.StoreDir)
	if err != nil {
		// Stored before a check that now refuses it (a CA, a repeated
		// reference or Sig): no upload can equal it, and none replaces it.
		return clientError(http.StatusConflict,
			"a narinfo for %s is already stored that today's checks refuse (%v); it cannot be replaced by an upload",
			ni.StorePath, err)
	}
	if field := differingField(stored, ni); field != "" {
		return clientError(http.StatusConflict,
			"a narinfo for %s with a different %s is already stored", stored.StorePath, field)
	}
	return nil
}

// differingField names the first field in which a and b differ, ignoring
// signatures and reference order, or returns "".
func differingField(a, b *narinfo.NarInfo) string {
	sorted := func(s []string) []string {
		s = slices.Clone(s)
		slices.Sort(s)
		return slices.Compact(s)
	}
	switch {
	case a.StorePath != b.StorePath:
		return "StorePath"
	case !slices.Equal(a.Files, b.Files):
		return "URL, Compression, FileHash or FileSize"
	case a.NarHash != b.NarHash:
		return "NarHash"
	case a.NarSize != b.NarSize:
		return "NarSize"
	case !slices.Equal(sorted(a.References), sorted(b.References)):
		return "References"
	case a.Deriver != b.Deriver:
		return "Deriver"
	case a.System != b.System:
		return "System"
	case a.CA != b.CA:
		return "CA"
	}
	return ""
}

// narFile is a row of nar_file.
type narFile struct {
	URL         string
	FileHash    string
	FileSize    int64
	Compression string
	NarHash     *string // what a file whose name carries no hash holds
	NarSize     *int64
}

// checkFiles refuses a narinfo listing a NAR file that is not among found,
// the uploaded ones, or describing one differently from what was uploaded.
func checkFiles(ni *narinfo.NarInfo, found []narFile) error {
	for _, f := range ni.Files {
		i := slices.IndexFunc(found, func(nf narFile) bool { return nf.URL == f.URL })
		if i < 0 {
			return badRequest("NAR file %s has not been uploaded; upload it before its narinfo", f.URL)
		}
		nf := found[i]
		compression := f.Compression
		if compression == "" {
			compression = "bzip2" // what Nix reads a missing Compression as
		}
		switch {
		case f.FileHash != "" && f.FileHash != nf.FileHash:
			return badRequest("FileHash of %s is %s, but the uploaded file's is %s", f.URL, f.FileHash, nf.FileHash)
		case f.FileSize != 0 && f.FileSize != uint64(nf.FileSize):
			return badRequest("FileSize of %s is %d, but the uploaded file has %d bytes", f.URL, f.FileSize, nf.FileSize)
		case compression != nf.Compression:
			return badRequest("Compression of %s is %s, but its name says %s", f.URL, compression, nf.Compression)
		case nf.Compression == "none" && (nf.FileHash != ni.NarHash || uint64(nf.FileSize) != ni.NarSize):
			return badRequest("uncompressed NAR file %s does not match NarHash and NarSize", f.URL)
		case nf.NarHash != nil && (*nf.NarHash != ni.NarHash || uint64(*nf.NarSize) != ni.NarSize):
			return badRequest("NAR file %s holds a NAR of %s and %d bytes, but NarHash and NarSize say %s and %d",
				f.URL, *nf.NarHash, *nf.NarSize, ni.NarHash, ni.NarSize)
		}
	}
	return nil
}

// checkReferences refuses a narinfo that references a path (other than
// itself) that is not among present, the stored paths by hash.
func checkReferences(storeDir string, ni *narinfo.NarInfo, present map[string]string) error {
	for _, ref := range ni.References {
		h, name, _ := narinfo.ParseBaseName(ref)
		if h == ni.Hash {
			continue
		}
		if stored, ok := present[h]; !ok || stored != name {
			return badRequest("referenced path %s/%s is not in the cache; upload it first", storeDir, ref)
		}
	}
	return nil
}
