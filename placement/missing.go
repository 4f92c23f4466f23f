package placement

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// File is a NAR file as the nar_file table records it.
type File struct {
	URL         string `json:"url"` // nar/<filehash>.nar.xz, the key in every store
	FileHash    string `json:"file_hash"`
	FileSize    int64  `json:"file_size"`
	Compression string `json:"compression"`
}

// Missing calls each, in URL order, for every NAR file that has no good
// location in the store named name: what populate would copy in. A
// location there that is missing or corrupt counts as none. It stops at the
// first error each returns, and returns it.
func Missing(ctx context.Context, db DB, name string, each func(File) error) error {
	st, err := Get(ctx, db, name)
	if err != nil {
		return err
	}
	rows, err := db.Query(ctx, qMissing, st.ID)
	if err != nil {
		return fmt.Errorf("missing in %q: %w", name, err)
	}
	var f File
	_, err = pgx.ForEachRow(rows, []any{&f.URL, &f.FileHash, &f.FileSize, &f.Compression}, func() error {
		return each(f)
	})
	if err != nil {
		return fmt.Errorf("missing in %q: %w", name, err)
	}
	return nil
}
