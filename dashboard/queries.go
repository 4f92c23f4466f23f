package dashboard

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The statistics' queries, read once at start-up.
var (
	qOverview          = query("overview")
	qEdges             = query("edges")
	qCountries         = query("countries")
	qTopKeys           = query("top_keys")
	qPathNames         = query("path_names")
	qNeverFetched      = query("never_fetched")
	qNeverFetchedCount = query("never_fetched_count")
	qClients           = query("clients")
	qWindowThrough     = query("window_through")
	qStores            = query("stores")
	qNoGoodCopy        = query("no_good_copy")
	qGCRuns            = query("gc_runs")
	qGCFenced          = query("gc_fenced")
)
