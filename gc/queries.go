package gc

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The queries of collection, read once at start-up.
var (
	qCloseInterruptedRuns = query("close_interrupted_runs")
	qPruneRuns            = query("prune_runs")
	qStartRun             = query("start_run")
	qUpdateRun            = query("update_run")
	qExpireRoots          = query("expire_roots")
	qExpireTold           = query("expire_told")
	qOrphanFetched        = query("orphan_fetched")
	qCreateGarbage        = query("create_garbage")
	qMark                 = query("mark")
	qCountPaths           = query("count_paths")
	qGarbagePage          = query("garbage_page")
	qGarbagePaths         = query("garbage_paths")
	qLockPaths            = query("lock_paths")
	qSweepPaths           = query("sweep_paths")
	qStillThere           = query("still_there")
	qCreateFiles          = query("create_files")
	qRetirableFiles       = query("retirable_files")
	qFilesPage            = query("files_page")
	qLockFiles            = query("lock_files")
	qRetireFiles          = query("retire_files")
	qStampTombstones      = query("stamp_tombstones")
	qDryFiles             = query("dry_files")
	qDryRetirable         = query("dry_retirable")
	qEdges                = query("edges")
	qFenced               = query("fenced")
	qLockTombstones       = query("lock_tombstones")
	qDeleteTombstones     = query("delete_tombstones")
)
