package loadtest

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The queries of loadtest, read once at start-up.
var (
	qSeedPresent   = query("seed_present")
	qInsertPath    = query("insert_path")
	qLoadtestStore = query("loadtest_store")
	qPathPresent   = query("path_present")
	qCountNarinfos = query("count_narinfos")
	qEdgeSlots     = query("edge_slots")
	qDropEdgeSlots = query("drop_edge_slots")
	qDeleteEdge    = query("delete_edge")

	qDashboardPaths       = query("dashboard_paths")
	qDashboardEdges       = query("dashboard_edges")
	qDashboardDaily       = query("dashboard_daily")
	qDashboardClients     = query("dashboard_clients")
	qDashboardLastFetched = query("dashboard_last_fetched")
	qDashboardHourly      = query("dashboard_hourly")
	qDashboardBatches     = query("dashboard_batches")
	qDashboardFiles       = query("dashboard_files")
	qDashboardLocations   = query("dashboard_locations")
	qDashboardJob         = query("dashboard_job")

	qGCStore        = query("gc_store")
	qGCLocations    = query("gc_locations")
	qGCUnfetched    = query("gc_unfetched")
	qGCReachable    = query("gc_reachable")
	qGCDangling     = query("gc_dangling")
	qGCMarkSeed     = query("gc_mark_seed")
	qGCMarkCTE      = query("gc_mark_cte")
	qGCMarkTemp     = query("gc_mark_temp")
	qGCMarkUnlogged = query("gc_mark_unlogged")
	qGCMarkStart    = query("gc_mark_start")
	qGCMarkStep     = query("gc_mark_step")
	qGCMarkGarbage  = query("gc_mark_garbage")
)
