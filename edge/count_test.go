package edge

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/narthex-cache/narthex/analytics"
)

// TestServer_CountsFetches sends a known mix of requests from clients the
// GeoIP database places in two countries, through every engine, and checks
// the counts exactly.
func TestServer_CountsFetches(t *testing.T) {
	t.Parallel()
	rep := newReplica(t)
	const missHash = "0000000000000000000000000000000a"
	nix := []string{"User-Agent", "curl/7.88.1 Nix/2.8.0"}
	guix := []string{"User-Agent", "GNU Guile"}
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			c := analytics.New(0)
			addr, _ := serve(t, Config{Engine: engine, Analytics: c, GeoIPDB: geoDB(t)}, &source{rep: rep})
			base := "http://" + addr + "/"
			eu, asia := from(inEurope), from(inAsia)
			for range 3 {
				fetch(t, eu, "GET", base+hitHash+".narinfo", nix...)
			}
			fetch(t, eu, "HEAD", base+hitHash+".narinfo", nix...)
			fetch(t, eu, "GET", base+missHash+".narinfo", nix...)
			fetch(t, asia, "GET", base+hitHash+".narinfo", guix...)
			for range 2 {
				if code, _ := fetch(t, asia, "GET", base+guixURL, guix...); code != 302 {
					t.Fatalf("GET %s = %d", guixURL, code)
				}
			}
			fetch(t, asia, "HEAD", base+narURL, guix...)       // answered, not redirected: not counted
			fetch(t, eu, "GET", base+"nix-cache-info", nix...) // not a fetch
			fetch(t, eu, "GET", base+"nar/0000000000000000000000000000000000000000000000000000.nar")

			got := map[analytics.Key]uint64{}
			c.Drain(false, func(n analytics.Count) {
				if n.Hour != c.Hour() {
					t.Errorf("%+v counted in hour %d, want %d", n, n.Hour, c.Hour())
				}
				n.Hour = 0
				got[n.Key] += n.Requests
			})
			want := map[analytics.Key]uint64{
				{Kind: analytics.Hit, Key: hitHash, Country: "DE"}:        4,
				{Kind: analytics.Miss, Key: missHash, Country: "DE"}:      1,
				{Kind: analytics.Hit, Key: hitHash, Country: "SG"}:        1,
				{Kind: analytics.Redirect, Key: guixURL, Country: "SG"}:   2,
				{Kind: analytics.Client, Key: "nix/2.8.0", Country: "DE"}: 5,
				{Kind: analytics.Client, Key: "guix", Country: "SG"}:      3,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientFamily(t *testing.T) {
	for ua, want := range map[string]string{
		"curl/7.88.1 Nix/2.8.0":         "nix/2.8.0",
		"curl/8.11.1 Nix/2.24.10pre123": "nix/2.24.10pre123",
		"Nix/2.3.16; evil":              "nix/2.3.16",
		"curl/8.0":                      "curl",
		"GNU Guile":                     "guix",
		"Mozilla/5.0":                   "other",
		"":                              "other",
		"curl/1 Nix/" + string(make([]byte, 100)): "nix/",
	} {
		if got := string(clientFamily(nil, []byte(ua))); got != want {
			t.Errorf("clientFamily(%q) = %q, want %q", ua, got, want)
		}
	}
}
