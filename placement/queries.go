package placement

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The registry's queries, read once at start-up.
var (
	qInsertStore        = query("insert_store")
	qListStores         = query("list_stores")
	qLockStore          = query("lock_store")
	qUpdateStore        = query("update_store")
	qStoreID            = query("store_id")
	qDrainedInto        = query("drained_into")
	qLockLocations      = query("lock_locations")
	qLocationCounts     = query("location_counts")
	qDeleteLocations    = query("delete_locations")
	qDeleteStore        = query("delete_store")
	qMissing            = query("missing")
	qSummary            = query("summary")
	qRunningJob         = query("running_job")
	qLockStoreUsage     = query("lock_store_usage")
	qReserveSpace       = query("reserve_space")
	qDropLapsedClaim    = query("drop_lapsed_claim")
	qReleaseReservation = query("release_reservation")
	qRenewReservations  = query("renew_reservations")
)
