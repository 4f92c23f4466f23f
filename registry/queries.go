package registry

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The registry's queries, read once at start-up.
var (
	qHeartbeat = query("heartbeat")
	qList      = query("list")
)
