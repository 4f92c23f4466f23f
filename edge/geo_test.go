package edge

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/geotest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/narinfo"
	"github.com/narthex-cache/narthex/replica"
	"github.com/narthex-cache/narthex/replica/replicafill"
	"github.com/valyala/fasthttp"
)

// Addresses of clients in the places of geotest's databases, and one that
// no database places.
const (
	inEurope  = "127.1.0.1"
	inAsia    = "127.2.0.1"
	nowhere   = "127.3.0.1"
	proxyAddr = "127.9.0.1"
)

// row is one row of a published table.
type row struct {
	table string
	cols  map[string]string
}

// store is the row of a store; lat and lon empty when unknown, prio empty
// when unset.
func store(id, name, baseURL, lat, lon, prio string, extra ...string) row {
	cols := map[string]string{"id": id, "name": name, "kind": "http", "base_url": baseURL}
	for k, v := range map[string]string{"latitude": lat, "longitude": lon, "download_priority": prio} {
		if v != "" {
			cols[k] = v
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cols[extra[i]] = extra[i+1]
	}
	return row{"store", cols}
}

// copyIn is the row of a copy of the file at url in a store, in state
// (empty: the column absent).
func copyIn(url, storeID, state string) row {
	cols := map[string]string{"url": url, "store_id": storeID, "key": "k/" + narinfo.URLKey(url)}
	if state != "" {
		cols["state"] = state
	}
	return row{"payload_location", cols}
}

// replicaOf bootstraps a replica holding rows, as a bootstrap copy would,
// with a memory cache, as edges have by default.
func replicaOf(t testing.TB, rows ...row) *replica.Replica {
	t.Helper()
	return replicaWith(t, replica.Options{MemoryCacheBytes: 1 << 20}, rows...)
}

// replicaWith is replicaOf with options o.
func replicaWith(t testing.TB, o replica.Options, rows ...row) *replica.Replica {
	t.Helper()
	rs := make([]replicafill.Row, len(rows))
	for i, r := range rows {
		rs[i] = replicafill.Row{Table: r.table, Cols: r.cols}
	}
	return replicafill.Load(t, o, rs...)
}

// fra, sin and ams are stores at Frankfurt, Singapore and Amsterdam.
var (
	fra = func(prio string, extra ...string) row {
		return store("1", "fra", "http://fra.test", fmt.Sprint(geotest.FrankfurtLat), fmt.Sprint(geotest.FrankfurtLon), prio, extra...)
	}
	sin = func(prio string, extra ...string) row {
		return store("2", "sin", "http://sin.test", fmt.Sprint(geotest.SingaporeLat), fmt.Sprint(geotest.SingaporeLon), prio, extra...)
	}
	ams = func(prio string, extra ...string) row {
		return store("3", "ams", "http://ams.test", fmt.Sprint(geotest.AmsterdamLat), fmt.Sprint(geotest.AmsterdamLon), prio, extra...)
	}
)

// geoDB writes a City database placing Europe and Asia, and returns its
// path.
func geoDB(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geotest.WriteFile(t, path, geotest.Europe, geotest.Asia)
	return path
}

// from is an HTTP client whose connections come from the address from,
// which follows no redirect.
func from(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 30 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetch answers the status and Location of a request from client, with
// header set.
func fetch(t testing.TB, client *http.Client, method, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location")
}

// metric returns the line of /metrics that starts with name, or "".
func metric(t testing.TB, base, name string) string {
	t.Helper()
	_, _, body := get(t, "GET", base+"/metrics")
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// A client is sent to the store nearest to it, whichever engine answers:
// the event loops know each connection's peer as fasthttp's server does.
// Far apart, distance beats priority; a client the database does not
// place is sent by priority.
func TestServer_RedirectsToTheNearestStore(t *testing.T) {
	t.Parallel()
	rep := replicaOf(t, fra("10"), sin("20"), copyIn(narURL, "1", "good"), copyIn(narURL, "2", ""))
	db := geoDB(t)
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			addr, _ := serve(t, Config{Engine: engine, GeoIPDB: db}, &source{rep: rep})
			for _, tc := range []struct{ client, want string }{
				{inEurope, "http://fra.test/k/" + narURL},
				{inAsia, "http://sin.test/k/" + narURL},
				{nowhere, "http://sin.test/k/" + narURL},
			} {
				if code, loc := fetch(t, from(tc.client), "GET", "http://"+addr+"/"+narURL); code != 302 || loc != tc.want {
					t.Errorf("GET from %s = %d %q, want 302 %q", tc.client, code, loc, tc.want)
				}
			}
			// HEAD is answered here, never redirected.
			if code, loc := fetch(t, from(inAsia), "HEAD", "http://"+addr+"/"+narURL); code != 200 || loc != "" {
				t.Errorf("HEAD = %d %q, want 200 without Location", code, loc)
			}
			if got := metric(t, "http://"+addr, `narthex_edge_nar_rankings_total{by="distance"}`); !strings.HasSuffix(got, " 2") {
				t.Errorf("rankings by distance: %q, want 2", got)
			}
		})
	}
}

// Stores within the band of the nearest count as equally near, and the
// download priority decides between them.
func TestServer_NearBandTiesGoToPriority(t *testing.T) {
	t.Parallel()
	// Amsterdam is some 360 km from Frankfurt, where the client is.
	rep := replicaOf(t, fra("10"), sin("90"), ams("50"), copyIn(narURL, "1", ""), copyIn(narURL, "2", ""), copyIn(narURL, "3", ""))
	db := geoDB(t)
	for _, tc := range []struct {
		band float64
		want string
	}{
		{0, "http://ams.test/k/" + narURL},    // the default band, 500 km
		{100, "http://fra.test/k/" + narURL},  // Amsterdam is out of it
		{1e-9, "http://fra.test/k/" + narURL}, // the nearest alone
		{20000, "http://sin.test/k/" + narURL},
	} {
		addr, _ := serve(t, Config{GeoIPDB: db, NearBandKm: tc.band}, &source{rep: rep})
		if code, loc := fetch(t, from(inEurope), "GET", "http://"+addr+"/"+narURL); code != 302 || loc != tc.want {
			t.Errorf("band %v km: GET = %d %q, want 302 %q", tc.band, code, loc, tc.want)
		}
	}
}

// Only good copies in readable stores are downloaded from: a missing or
// corrupt copy, or one in a write-only store, is passed over for the next
// good one, and a file with none is not found, counted apart from a file
// no store holds.
func TestServer_PassesOverCopiesThatAreNotGood(t *testing.T) {
	t.Parallel()
	const (
		onlyBad       = "nar/0000000000000000000000000000000000000000000000000001.nar"
		onlyWriteOnly = "nar/0000000000000000000000000000000000000000000000000002.nar"
		absent        = "nar/0000000000000000000000000000000000000000000000000003.nar"
	)
	rep := replicaOf(t,
		fra("10"), sin("20"), ams("99", "write_only", "t"),
		// The write-only store is the nearest and the highest priority.
		copyIn(narURL, "1", "missing"), copyIn(narURL, "2", "good"), copyIn(narURL, "3", "good"),
		copyIn(guixURL, "1", "good"), copyIn(guixURL, "2", "corrupt"),
		copyIn(onlyBad, "1", "corrupt"), copyIn(onlyBad, "2", "missing"),
		copyIn(onlyWriteOnly, "3", "good"),
	)
	addr, _ := serve(t, Config{GeoIPDB: geoDB(t)}, &source{rep: rep})
	base := "http://" + addr
	for _, tc := range []struct {
		client, method, path string
		code                 int
		loc                  string
	}{
		{inEurope, "GET", narURL, 302, "http://sin.test/k/" + narURL},
		{inAsia, "GET", guixURL, 302, "http://fra.test/k/" + guixURL},
		{inEurope, "GET", onlyBad, 404, ""},
		{inEurope, "HEAD", onlyBad, 404, ""},
		{inEurope, "GET", onlyWriteOnly, 404, ""},
		{inEurope, "HEAD", onlyWriteOnly, 404, ""},
		{inEurope, "GET", absent, 404, ""},
	} {
		if code, loc := fetch(t, from(tc.client), tc.method, base+"/"+tc.path); code != tc.code || loc != tc.loc {
			t.Errorf("%s %s from %s = %d %q, want %d %q", tc.method, tc.path, tc.client, code, loc, tc.code, tc.loc)
		}
	}
	for name, want := range map[string]string{
		`narthex_edge_nar_requests_total{result="no_good_copy"}`: "4",
		`narthex_edge_nar_requests_total{result="miss"}`:         "1",
		`narthex_edge_nar_requests_total{result="redirect"}`:     "2",
	} {
		if got := metric(t, base, name); got != name+" "+want {
			t.Errorf("metric %q, want %s", got, want)
		}
	}
}

// A copy going missing at the origin and coming back, replicated through
// PostgreSQL, takes the file out of service and back.
func TestServer_LocationStateFromTheOrigin(t *testing.T) {
	t.Parallel()
	base, db, _ := newEdge(t, Config{})
	set := func(state string, want int) {
		t.Helper()
		if _, err := db.Exec(t.Context(), `UPDATE payload_location SET state = $1 WHERE url = $2`, state, narURL); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "the NAR answered "+fmt.Sprint(want)+" once its copy is "+state, time.Minute, func() bool {
			code, _, _ := get(t, "GET", base+"/"+narURL)
			return code == want
		})
	}
	set("missing", 404)
	if code, _, _ := get(t, "HEAD", base+"/"+narURL); code != 404 {
		t.Errorf("HEAD of a file with no good copy = %d, want 404", code)
	}
	set("good", 302)
	set("corrupt", 404)
	set("good", 302)
}

// X-Forwarded-For names the client only when the connection comes from a
// trusted proxy, and then its right-most address that is not a proxy's.
func TestServer_ForwardedForFromTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	rep := replicaOf(t, fra("10"), sin("20"), copyIn(narURL, "1", ""), copyIn(narURL, "2", ""))
	db := geoDB(t)
	trusting, _ := serve(t, Config{GeoIPDB: db, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.9.0.0/16")}}, &source{rep: rep})
	trustingNone, _ := serve(t, Config{GeoIPDB: db}, &source{rep: rep})
	const toFra, toSin = "http://fra.test/k/" + narURL, "http://sin.test/k/" + narURL
	for _, tc := range []struct {
		name, addr, client string
		xff                []string
		want               string
	}{
		{"from a trusted proxy", trusting, proxyAddr, []string{inEurope}, toFra},
		{"the right-most untrusted", trusting, proxyAddr, []string{inAsia + ", " + inEurope}, toFra},
		{"past trusted proxies", trusting, proxyAddr, []string{inEurope + ", 127.9.0.7"}, toFra},
		{"over several lines", trusting, proxyAddr, []string{inAsia, inEurope + ", 127.9.3.3"}, toFra},
		{"with a port", trusting, proxyAddr, []string{inEurope + ":51234"}, toFra},
		{"a malformed entry ends the reading", trusting, proxyAddr, []string{inEurope + ", bogus"}, toSin},
		{"forged by a client", trusting, inAsia, []string{inEurope}, toSin},
		{"no trusted proxies", trustingNone, proxyAddr, []string{inEurope}, toSin},
	} {
		header := []string{}
		for _, v := range tc.xff {
			header = append(header, "X-Forwarded-For", v)
		}
		if code, loc := fetch(t, from(tc.client), "GET", "http://"+tc.addr+"/"+narURL, header...); code != 302 || loc != tc.want {
			t.Errorf("%s: GET = %d %q, want 302 %q", tc.name, code, loc, tc.want)
		}
	}
	// A header name in lower case, as HTTP/2 proxies send it, counts too.
	req := "GET /" + narURL + " HTTP/1.1\r\nHost: e\r\nx-forwarded-for: " + inEurope + "\r\n\r\n"
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(proxyAddr)}}).Dial("tcp", trusting)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, req)
	b := make([]byte, 4096)
	n, _ := c.Read(b)
	if !strings.Contains(string(b[:n]), "Location: "+toFra+"\r\n") {
		t.Errorf("lower-case x-forwarded-for: %q", b[:n])
	}
}

// A database replaced on disk is used without a restart; a file that
// cannot be loaded leaves the edge serving, by priority, and says so.
func TestServer_GeoIPDatabaseLifecycle(t *testing.T) {
	t.Parallel()
	rep := replicaOf(t, fra("10"), sin("20"), copyIn(narURL, "1", ""), copyIn(narURL, "2", ""))
	const toFra, toSin = "http://fra.test/k/" + narURL, "http://sin.test/k/" + narURL
	dir := t.TempDir()
	path := filepath.Join(dir, "city.mmdb")
	if err := os.WriteFile(path, []byte("not a MaxMind database, cut short by a failed download"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, Config{GeoIPDB: path, GeoIPPollInterval: 20 * time.Millisecond}, &source{rep: rep})
	base := "http://" + addr
	nearest := func(client string) string {
		t.Helper()
		_, loc := fetch(t, from(client), "GET", base+"/"+narURL)
		return loc
	}
	// Corrupt: served by priority.
	if got := nearest(inEurope); got != toSin {
		t.Errorf("with a corrupt database: %q, want %q by priority", got, toSin)
	}
	if got := metric(t, base, "narthex_edge_geoip_loaded"); got != "narthex_edge_geoip_loaded 0" {
		t.Errorf("with a corrupt database: %q", got)
	}
	if got := metric(t, base, "narthex_edge_geoip_build_timestamp_seconds"); got != "narthex_edge_geoip_build_timestamp_seconds 0" {
		t.Errorf("with a corrupt database: %q", got)
	}
	if got := metric(t, base, "narthex_edge_geoip_load_failures_total"); got != "narthex_edge_geoip_load_failures_total 1" {
		t.Errorf("with a corrupt database: %q, want one failure however often it is polled", got)
	}
	// Repaired: loaded.
	geotest.WriteFile(t, path, geotest.Europe, geotest.Asia)
	testutil.Eventually(t, "the repaired database to place the client", time.Minute, func() bool { return nearest(inEurope) == toFra })
	if got := metric(t, base, "narthex_edge_geoip_loaded"); got != "narthex_edge_geoip_loaded 1" {
		t.Errorf("with a good database: %q", got)
	}
	for _, name := range []string{"narthex_edge_geoip_build_timestamp_seconds", "narthex_edge_geoip_load_timestamp_seconds"} {
		if got := metric(t, base, name); got == "" || got == name+" 0" {
			t.Errorf("with a good database: %q, want the time", got)
		}
	}
	// Replaced: the new database places 127.1.0.0/16 in Asia.
	asia := geotest.Asia
	asia.Network = netip.MustParsePrefix("127.1.0.0/16")
	geotest.WriteFile(t, path, asia)
	testutil.Eventually(t, "the replaced database to place the client", time.Minute, func() bool { return nearest(inEurope) == toSin })
	// A bad update keeps the database loaded before.
	geotest.Replace(t, path, []byte("garbage"))
	testutil.Eventually(t, "the bad update to be counted", time.Minute, func() bool {
		return metric(t, base, "narthex_edge_geoip_load_failures_total") == "narthex_edge_geoip_load_failures_total 2"
	})
	if got := nearest(inEurope); got != toSin {
		t.Errorf("after a bad update: %q, want %q from the database loaded before", got, toSin)
	}
	if got := metric(t, base, "narthex_edge_geoip_loaded"); got != "narthex_edge_geoip_loaded 1" {
		t.Errorf("after a bad update: %q", got)
	}
}

// Without a database, or with none at the path given, the edge serves and
// ranks by priority.
func TestServer_WithoutGeoIPRanksByPriority(t *testing.T) {
	t.Parallel()
	rep := replicaOf(t, fra("10"), sin("20"), store("4", "plain", "http://plain.test", "", "", "30"),
		copyIn(narURL, "1", ""), copyIn(narURL, "2", ""), copyIn(guixURL, "1", ""), copyIn(guixURL, "2", ""), copyIn(guixURL, "4", ""))
	for _, tc := range []struct {
		name, db, failures string
	}{
		{"none given", "", "0"},
		{"missing", filepath.Join(t.TempDir(), "absent.mmdb"), "1"},
	} {
		addr, _ := serve(t, Config{GeoIPDB: tc.db}, &source{rep: rep})
		base := "http://" + addr
		for path, want := range map[string]string{narURL: "http://sin.test/k/" + narURL, guixURL: "http://plain.test/k/" + guixURL} {
			for _, client := range []string{inEurope, inAsia} {
				if code, loc := fetch(t, from(client), "GET", base+"/"+path); code != 302 || loc != want {
					t.Errorf("%s: GET %s from %s = %d %q, want 302 %q", tc.name, path, client, code, loc, want)
				}
			}
		}
		if got := metric(t, base, "narthex_edge_geoip_loaded"); got != "narthex_edge_geoip_loaded 0" {
			t.Errorf("%s: %q", tc.name, got)
		}
		if got := metric(t, base, "narthex_edge_geoip_load_failures_total"); got != "narthex_edge_geoip_load_failures_total "+tc.failures {
			t.Errorf("%s: %q, want %s", tc.name, got, tc.failures)
		}
	}
	// Stores with a position rank before those without, once the client
	// is placed.
	addr, _ := serve(t, Config{GeoIPDB: geoDB(t)}, &source{rep: rep})
	if code, loc := fetch(t, from(inAsia), "GET", "http://"+addr+"/"+guixURL); code != 302 || loc != "http://sin.test/k/"+guixURL {
		t.Errorf("GET with stores placed and not = %d %q", code, loc)
	}
}

// A private S3 store's copy is downloaded by a presigned URL; a store the
// edge cannot presign for is passed over for the next copy.
func TestServer_PresignsPrivateStores(t *testing.T) {
	t.Parallel()
	rep := replicaOf(t,
		store("5", "private", "", fmt.Sprint(geotest.SingaporeLat), fmt.Sprint(geotest.SingaporeLon), "50", "kind", "s3"),
		fra("10"),
		copyIn(narURL, "5", ""), copyIn(narURL, "1", ""),
		copyIn(guixURL, "5", ""),
	)
	var fail atomic.Bool
	presign := func(st *replica.Store, key []byte) (string, error) {
		if fail.Load() {
			return "", errors.New("no credentials")
		}
		return "https://s3.test/" + st.Name + "/" + string(key) + "?X-Amz-Signature=abc", nil
	}
	db := geoDB(t)
	signing, _ := serve(t, Config{GeoIPDB: db, Presign: presign}, &source{rep: rep})
	unsigning, _ := serve(t, Config{GeoIPDB: db}, &source{rep: rep})
	signed := "https://s3.test/private/k/" + narURL + "?X-Amz-Signature=abc"
	if code, loc := fetch(t, from(inAsia), "GET", "http://"+signing+"/"+narURL); code != 302 || loc != signed {
		t.Errorf("GET = %d %q, want 302 %q", code, loc, signed)
	}
	if code, loc := fetch(t, from(inAsia), "HEAD", "http://"+signing+"/"+narURL); code != 200 || loc != "" {
		t.Errorf("HEAD = %d %q, want 200 and no Location: a presigned URL refuses HEAD", code, loc)
	}
	fail.Store(true)
	for _, addr := range []string{signing, unsigning} {
		if code, loc := fetch(t, from(inAsia), "GET", "http://"+addr+"/"+narURL); code != 302 || loc != "http://fra.test/k/"+narURL {
			t.Errorf("GET without presigning = %d %q, want the next store", code, loc)
		}
		if code, _ := fetch(t, from(inAsia), "GET", "http://"+addr+"/"+guixURL); code != 503 {
			t.Errorf("GET of a file only in a store the edge cannot presign for = %d, want 503", code)
		}
		if got := metric(t, "http://"+addr, `narthex_edge_nar_stores_skipped_total{reason="presign"}`); !strings.HasSuffix(got, " 2") {
			t.Errorf("skipped stores: %q, want 2", got)
		}
	}
}

func TestServer_ForwardedFor(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}}
	for _, tc := range []struct{ lines, want string }{
		{"", ""},
		{"203.0.113.7", "203.0.113.7"},
		{"203.0.113.7, 198.51.100.2", "198.51.100.2"},
		{"203.0.113.7,10.1.1.1", "203.0.113.7"},
		{"10.2.2.2, 10.1.1.1", "10.2.2.2"}, // all proxies: the left-most
		{"203.0.113.7, nonsense, 10.1.1.1", "10.1.1.1"},
		{"203.0.113.7, nonsense", ""},
		{" , 2001:db8::1 ,", "2001:db8::1"},
		{"[2001:db8::2]:443, fd00::1", "2001:db8::2"},
		{"::ffff:203.0.113.9", "203.0.113.9"},
		{"203.0.113.7|198.51.100.2, 10.0.0.1", "198.51.100.2"}, // two lines
	} {
		var got netip.Addr
		for line := range strings.SplitSeq(tc.lines, "|") {
			got = s.forwardedFor(got, []byte(line))
		}
		if want, _ := netip.ParseAddr(tc.want); got != want {
			t.Errorf("X-Forwarded-For %q chose %v, want %v", tc.lines, got, want)
		}
	}
}

func TestDistanceKm(t *testing.T) {
	t.Parallel()
	at := func(lat, lon float64) replica.Position {
		p, ok := replica.PositionOf(lat, lon)
		if !ok {
			t.Fatalf("no position at %v, %v", lat, lon)
		}
		return p
	}
	for _, tc := range []struct {
		a, b     replica.Position
		min, max float64
	}{
		{at(geotest.FrankfurtLat, geotest.FrankfurtLon), at(geotest.SingaporeLat, geotest.SingaporeLon), 10200, 10300},
		{at(geotest.FrankfurtLat, geotest.FrankfurtLon), at(geotest.AmsterdamLat, geotest.AmsterdamLon), 350, 370},
		{at(0, 179.9), at(0, -179.9), 22, 23}, // across the antimeridian
		{at(90, 0), at(-90, 0), 20015, 20016}, // pole to pole
		{at(1, 1), at(1, 1), 0, 0},
	} {
		if d := distanceKm(tc.a, tc.b); d < tc.min || d > tc.max {
			t.Errorf("distance %+v to %+v = %v km, want [%v, %v]", tc.a, tc.b, d, tc.min, tc.max)
		}
	}
}

// A redirect ranked by a GeoIP lookup, the client named by a trusted
// proxy or not, allocates nothing, through fasthttp's server and through
// the event loops' exchange.
func TestServer_RankedRedirectAllocatesNothing(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts mean nothing under the race detector, whose sync.Pool drops items on purpose")
	}
	rows := []row{fra("10"), sin("20"), ams("30"), copyIn(narURL, "1", ""), copyIn(narURL, "2", ""), copyIn(narURL, "3", "missing")}
	db := geoDB(t)
	for _, tc := range []struct {
		name, peer, xff, want string
		cache                 int
	}{
		{"by distance", inEurope, "", "http://fra.test/k/" + narURL, 1 << 20},
		{"by distance, from the store", inEurope, "", "http://fra.test/k/" + narURL, 0},
		{"through a trusted proxy", proxyAddr, "198.51.100.1, " + inEurope + ", 127.9.0.2", "http://fra.test/k/" + narURL, 1 << 20},
		{"client not placed", nowhere, "", "http://sin.test/k/" + narURL, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := replicaWith(t, replica.Options{MemoryCacheBytes: tc.cache}, rows...)
			srv, err := New(Config{GeoIPDB: db, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.9.0.0/16")}}, &source{rep: rep})
			if err != nil {
				t.Fatal(err)
			}
			peer := &net.TCPAddr{IP: net.ParseIP(tc.peer), Port: 40000}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI("/" + narURL)
			if tc.xff != "" {
				ctx.Request.Header.Set("X-Forwarded-For", tc.xff)
			}
			ctx.SetRemoteAddr(peer)
			handle := func() {
				ctx.Response.Reset()
				srv.Handle(&ctx)
			}
			handle()
			if code, loc := ctx.Response.StatusCode(), string(ctx.Response.Header.Peek("Location")); code != 302 || loc != tc.want {
				t.Fatalf("answer %d %q, want 302 %q", code, loc, tc.want)
			}
			if n := testing.AllocsPerRun(200, handle); n != 0 {
				t.Fatalf("%v allocations per redirect, want none", n)
			}
			x := newExchange(srv)
			x.ctx.SetRemoteAddr(peer)
			in := []byte("GET /" + narURL + " HTTP/1.1\r\nHost: edge\r\n")
			if tc.xff != "" {
				in = append(in, "X-Forwarded-For: "+tc.xff+"\r\n"...)
			}
			in = append(in, "\r\n"...)
			var out []byte
			exchange := func() {
				out = out[:0]
				if used, closeConn := x.serve(in, &out, false); used != len(in) || closeConn {
					t.Fatalf("serve used %d of %d bytes, close %v", used, len(in), closeConn)
				}
			}
			exchange()
			if !strings.Contains(string(out), "Location: "+tc.want+"\r\n") {
				t.Fatalf("exchange answered %q", out)
			}
			if n := testing.AllocsPerRun(200, exchange); n != 0 {
				t.Fatalf("%v allocations per redirect through the event loop's exchange, want none", n)
			}
		})
	}
}

// BenchmarkServer_NarRedirect measures NAR redirects without the network:
// one store; two ranked by distance from a client a GeoIP database
// places, directly or through a trusted proxy; two ranked by priority for
// a client it does not; the copies from the memory cache, and from the
// store (no memory cache).
func BenchmarkServer_NarRedirect(b *testing.B) {
	oneStore := []row{fra("10"), copyIn(narURL, "1", "")}
	twoStores := []row{fra("10"), sin("20"), copyIn(narURL, "1", ""), copyIn(narURL, "2", "")}
	one, two := replicaOf(b, oneStore...), replicaOf(b, twoStores...)
	cold := replica.Options{}
	oneCold, twoCold := replicaWith(b, cold, oneStore...), replicaWith(b, cold, twoStores...)
	db := geoDB(b)
	for _, bc := range []struct {
		name      string
		rep       *replica.Replica
		peer, xff string
	}{
		{"one store", one, inEurope, ""},
		{"geoip", two, inEurope, ""},
		{"geoip via proxy", two, proxyAddr, "198.51.100.1, " + inAsia},
		{"not placed", two, nowhere, ""},
		{"one store from the store", oneCold, inEurope, ""},
		{"geoip from the store", twoCold, inEurope, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := New(Config{GeoIPDB: db, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.9.0.0/16")},
				Logger: slog.New(slog.DiscardHandler)}, &source{rep: bc.rep})
			if err != nil {
				b.Fatal(err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI("/" + narURL)
			if bc.xff != "" {
				ctx.Request.Header.Set("X-Forwarded-For", bc.xff)
			}
			ctx.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP(bc.peer), Port: 40000})
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				srv.Handle(&ctx)
			}
			if code := ctx.Response.StatusCode(); code != 302 {
				b.Fatalf("status %d", code)
			}
		})
	}
}
