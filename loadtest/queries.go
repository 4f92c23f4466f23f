package loadtest

import "embed"

//go:embed queries/*.sql
var queryFiles embed.FS

// query returns the text of queries/<name>.sql.
func query(name string) string {
	b, err := queryFiles.ReadFile("queries/" + name + ".sql")
	if err != nil {
		panic("loadtest: missing query " + name)
	}
	return string(b)
}

// The queries of loadtest, read once at start-up.
var (
	qSeedPresent   = query("seed_present")
	qInsertPath    = query("insert_path")
	qPathPresent   = query("path_present")
	qCountNarinfos = query("count_narinfos")
	qEdgeSlots     = query("edge_slots")
	qDropEdgeSlots = query("drop_edge_slots")
	qDeleteEdge    = query("delete_edge")
)
