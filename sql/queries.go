package sql

import (
	"fmt"
	"io/fs"
)

// Query returns the text of queries/<name>.sql in fsys, the embedded query
// files of the package that runs them. Queries live beside their package as
// commented .sql files; a missing one is a build mistake, so it panics, at
// start-up, where the package reads its queries into variables.
func Query(fsys fs.FS, name string) string {
	b, err := fs.ReadFile(fsys, "queries/"+name+".sql")
	if err != nil {
		panic(fmt.Sprintf("sql: missing query %s: %v", name, err))
	}
	return string(b)
}
