package origin

import (
	"embed"

	"github.com/narthex-cache/narthex/sql"
)

//go:embed queries/*.sql
var queryFiles embed.FS

func query(name string) string { return sql.Query(queryFiles, name) }

// The origin's queries, read once at start-up.
var (
	qRegisterLocalStore  = query("register_local_store")
	qCreateToken         = query("create_token")
	qRevokeToken         = query("revoke_token")
	qCheckToken          = query("check_token")
	qNarinfoBody         = query("narinfo_body")
	qNarFiles            = query("nar_files")
	qNarFileHash         = query("nar_file_hash")
	qPresentPaths        = query("present_paths")
	qInsertNarinfo       = query("insert_narinfo")
	qRecordNarFile       = query("record_nar_file")
	qRecordedNarFiles    = query("recorded_nar_files")
	qUploadStores        = query("upload_stores")
	qServedNarinfo       = query("served_narinfo")
	qServedNarinfoTold   = query("served_narinfo_told")
	qTellNarFile         = query("tell_nar_file")
	qBeginPayloadWrite   = query("begin_payload_write")
	qMarkLocationMissing = query("mark_location_missing")
	qWithdrawnOfFile     = query("withdrawn_of_file")
	qCountWithdrawn      = query("count_withdrawn")
	qExpireFetchCounts   = query("expire_fetch_counts")
	qAdvanceFetchWindows = query("advance_fetch_windows")
	qEdgesSeenStreaming  = query("edges_seen_streaming")
)
