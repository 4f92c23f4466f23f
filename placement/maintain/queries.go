package maintain

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The queries of maintenance, read once at start-up.
var (
	qStores               = query("stores")
	qStoreExists          = query("store_exists")
	qCloseInterruptedJobs = query("close_interrupted_jobs")
	qPruneJobs            = query("prune_jobs")
	qStartJob             = query("start_job")
	qUpdateJob            = query("update_job")
	qFinishJob            = query("finish_job")
	qRecordSweep          = query("record_sweep")
	qCountGood            = query("count_good")
	qVerifyBatch          = query("verify_batch")
	qUnrecorded           = query("unrecorded")
	qMarkVerified         = query("mark_verified")
	qMarkBad              = query("mark_bad")
	qCountMissing         = query("count_missing")
	qMissingBatch         = query("missing_batch")
	qSources              = query("sources")
	qCountLocations       = query("count_locations")
	qDrainBatch           = query("drain_batch")
	qEvictBatch           = query("evict_batch")
	qCountEvict           = query("count_evict")
	qRecordLocations      = query("record_locations")
	qLockNarFile          = query("lock_nar_file")
	qRemoveLocation       = query("remove_location")
	qBeginPayloadWrite    = query("begin_payload_write")
)
