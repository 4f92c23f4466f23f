package origin

import (
	"embed"
)

//go:embed queries/*.sql
var queryFiles embed.FS

// query returns the text of queries/<name>.sql.
func query(name string) string {
	b, err := queryFiles.ReadFile("queries/" + name + ".sql")
	if err != nil {
		panic("origin: missing query " + name)
	}
	return string(b)
}

// The origin's queries, read once at start-up.
var (
	qRegisterLocalStore = query("register_local_store")
	qCreateToken        = query("create_token")
	qRevokeToken        = query("revoke_token")
	qCheckToken         = query("check_token")
	qNarinfoBody        = query("narinfo_body")
	qNarFiles           = query("nar_files")
	qPresentPaths       = query("present_paths")
	qInsertNarinfo      = query("insert_narinfo")
	qRecordNarFile      = query("record_nar_file")
)
