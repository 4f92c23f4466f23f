package analytics

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The flusher's queries, read once at start-up.
var (
	qLastBatch   = query("last_batch")
	qInsertBatch = query("insert_batch")
)
