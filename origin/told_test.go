package origin

import (
	"net/http"
	"testing"
)

// An uploader checking what it need not upload is told a path or a NAR
// file is there only in a way garbage collection will honour: the answer
// marks it told. Anonymous readers mark nothing.
func TestServer_ToldMarks(t *testing.T) {
	h := newHarness(t, nil)
	n := newNar("a", ".xz")
	h.putNar(n)
	info := nixInfo("a", n)
	h.putInfo(info)
	told := func(table, key, value string) bool {
		t.Helper()
		var ok bool
		if err := h.db.QueryRow(t.Context(), "SELECT EXISTS (SELECT FROM "+table+" WHERE "+key+" = $1)", value).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// Writing the NAR file marked it told already (a writer does);
	// start from none.
	h.exec(`DELETE FROM nar_file_told`)
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		if r := h.do(m, "/"+info.Hash+".narinfo", nil, "Authorization", "-"); r.status != 200 {
			t.Fatalf("anonymous %s narinfo = %d", m, r.status)
		}
		if r := h.do(m, "/"+n.url, nil, "Authorization", "-"); r.status != 200 {
			t.Fatalf("anonymous %s NAR = %d", m, r.status)
		}
		if r := h.do(m, "/"+info.Hash+".narinfo", nil, "Authorization", "Bearer not-a-token-at-all"); r.status != 200 {
			t.Fatalf("%s narinfo with a bad token = %d, want 200 as for anyone", m, r.status)
		}
	}
	if told("narinfo_told", "hash", info.Hash) || told("nar_file_told", "url", n.url) {
		t.Fatal("an anonymous read marked a path or file told")
	}

	if r := h.do(http.MethodGet, "/"+info.Hash+".narinfo", nil); r.status != 200 {
		t.Fatalf("authenticated GET narinfo = %d", r.status)
	}
	if !told("narinfo_told", "hash", info.Hash) {
		t.Error("an authenticated GET of a narinfo did not mark it told")
	}
	if r := h.do(http.MethodGet, "/"+n.url, nil); r.status != 200 || told("nar_file_told", "url", n.url) {
		t.Errorf("authenticated GET of a NAR = %d, marked told %v; want 200 and no mark (a download promises nothing)",
			r.status, told("nar_file_told", "url", n.url))
	}
	if r := h.do(http.MethodHead, "/"+n.url, nil); r.status != 200 || !told("nar_file_told", "url", n.url) {
		t.Errorf("authenticated HEAD of a NAR = %d, marked told %v; want 200 and the mark", r.status, told("nar_file_told", "url", n.url))
	}

	// A file whose records a collection removed (its bytes wait behind
	// the fence) is not there for an uploader, which uploads it again.
	h.exec(`DELETE FROM narinfo WHERE hash = $1`, info.Hash)
	h.exec(`DELETE FROM payload_location WHERE url = $1`, n.url)
	h.exec(`DELETE FROM nar_file WHERE url = $1`, n.url)
	if r := h.do(http.MethodHead, "/"+n.url, nil); r.status != http.StatusNotFound {
		t.Errorf("authenticated HEAD of a retired NAR file = %d, want 404", r.status)
	}
	if r := h.do(http.MethodHead, "/"+n.url, nil, "Authorization", "-"); r.status != 200 {
		t.Errorf("anonymous HEAD of a NAR file still in the store = %d, want 200", r.status)
	}
}

// A NAR file written again drops the tombstone of its key, so that a
// collection's deletion of the old bytes cannot take the new ones.
func TestServer_WriteDropsTombstone(t *testing.T) {
	h := newHarness(t, nil)
	n := newNar("a", ".xz")
	h.exec(`INSERT INTO payload_tombstone (url, store_id, key, size, lsn) VALUES ($1, $2, $3, 10, '0/1'), ('nar/other.nar', $2, 'nar/other.nar', 10, '0/1')`,
		n.url, h.srv.storeID, n.url)
	h.putNar(n)
	var left []string
	rows, err := h.db.Query(t.Context(), `SELECT key FROM payload_tombstone`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		left = append(left, k)
	}
	if len(left) != 1 || left[0] != "nar/other.nar" {
		t.Errorf("tombstones after the upload: %v, want only the other key's", left)
	}
}
