package importer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// defaultStoreName derives a store name from the host of base: lowercase,
// every character outside [a-z0-9] turned into "-".
func defaultStoreName(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range strings.ToLower(u.Host) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	name := strings.TrimLeft(b.String(), "-_")
	if len(name) > 40 {
		name = name[:40]
	}
	return strings.TrimRight(name, "-")
}

// registerStore returns the id of the http store name at baseURL, adding
// it when there is none of that name. A store of that name of another
// kind or base URL is refused: it is some other store.
func registerStore(ctx context.Context, db DB, name, baseURL string) (int32, error) {
	for range 2 {
		var id int32
		var kind, base string
		err := db.QueryRow(ctx, qRegisterHTTPStore, name, baseURL).Scan(&id, &kind, &base)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // added concurrently: read it
		}
		if err != nil {
			return 0, fmt.Errorf("register store %s: %w", name, err)
		}
		if kind != "http" || base != baseURL {
			return 0, fmt.Errorf("store %q exists as a %s store at %q, not an http store at %q: give the source another store name",
				name, kind, base, baseURL)
		}
		return id, nil
	}
	return 0, fmt.Errorf("register store %s: it was added and removed meanwhile; try again", name)
}

// recordFiles records that store holds files under their keys. A file
// whose URL the origin records with other bytes (a Guix name) refuses its
// path.
func recordFiles(ctx context.Context, db DB, store int32, files []*hashed) error {
	n := len(files)
	urls, hashes, comps, keys := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	sizes := make([]int64, n)
	narHashes, narSizes := make([]*string, n), make([]*int64, n)
	for i, f := range files {
		urls[i], hashes[i], sizes[i], comps[i], keys[i] = f.URL, f.fileHash(), f.size, f.name.Compression, f.name.Key
		if f.narHash != "" {
			size := int64(f.narSize)
			narHashes[i], narSizes[i] = &f.narHash, &size
		}
	}
	rows, err := db.Query(ctx, qRecordLocations, store, urls, hashes, sizes, comps, keys, narHashes, narSizes)
	if err != nil {
		return fmt.Errorf("record NAR files: %w", err)
	}
	recorded, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("record NAR files: %w", err)
	}
	for _, u := range urls {
		if !slices.Contains(recorded, u) {
			return refuse("NAR file %s: the origin records other bytes under that name", u)
		}
	}
	return nil
}
