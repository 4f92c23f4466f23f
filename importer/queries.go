package importer

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The importer's queries, read once at start-up.
var (
	qRegisterHTTPStore = query("register_http_store")
	qRecordLocations   = query("record_locations")
)
