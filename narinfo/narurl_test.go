package narinfo

import "testing"

func TestParseNarURL(t *testing.T) {
	const (
		h    = "1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"
		base = "r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1"
	)
	tests := []struct {
		url                        string
		fileHash, compression, key string // compression empty when an error is expected
	}{
		{"nar/" + h + ".nar.xz", "sha256:" + h, "xz", "nar/" + h + ".nar.xz"},
		{"nar/" + h + ".nar", "sha256:" + h, "none", "nar/" + h + ".nar"},
		{"nar/" + base, "", "none", "nar/" + base},
		{"nar/gzip/" + base, "", "gzip", "nar/gzip/" + base},
		{"nar/lzip/" + base, "", "lzip", "nar/lzip/" + base},
		{"nar/zstd/" + base, "", "zstd", "nar/zstd/" + base},
		{"nar/zstd/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-gtk%2B-3.24", "", "zstd", "nar/zstd/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-gtk+-3.24"},
		{"nar/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-a%3Fb%3Dc", "", "none", "nar/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-a?b=c"},

		{"nar/xz/" + base, "", "", ""},
		{"nar/gzip/" + h + ".nar", "", "", ""},
		{"nar/gzip/", "", "", ""},
		{"nar/gzip/gzip/" + base, "", "", ""},
		{"gzip/" + base, "", "", ""},
		{"nar/gzip/../" + base, "", "", ""},
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-gtk+-3.24", "", "", ""},   // + unescaped
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-gtk%2b-3.24", "", "", ""}, // lowercase escape
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-%68ello", "", "", ""},     // escaped letter
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-gtk%2", "", "", ""},
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-a%2Fb", "", "", ""}, // escaped slash
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0e-hello", "", "", ""}, // e is not nixbase32
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d", "", "", ""},
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-", "", "", ""},
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-.", "", "", ""},
		{"nar/" + h + ".nar.XZ", "", "", ""},
	}
	for _, tt := range tests {
		u, err := ParseNarURL(tt.url)
		if tt.compression == "" {
			if err == nil {
				t.Errorf("ParseNarURL(%q) = %+v, want an error", tt.url, u)
			}
			continue
		}
		want := NarURL{FileHash: tt.fileHash, Compression: tt.compression, Key: tt.key}
		if err != nil || u != want {
			t.Errorf("ParseNarURL(%q) = %+v, %v, want %+v", tt.url, u, err, want)
			continue
		}
		if got := EscapeKey(u.Key); got != tt.url {
			t.Errorf("EscapeKey(%q) = %q, want the URL it was parsed from, %q", u.Key, got, tt.url)
		}
	}
}

func TestAppendEscapedKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar.xz", "nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar.xz"},
		{"nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-gtk+-3.24", "nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-gtk%2B-3.24"},
		{"a?b=c%d", "a%3Fb%3Dc%25d"},
	}
	for _, tt := range tests {
		if got := string(AppendEscapedKey([]byte("http://s/"), []byte(tt.key))); got != "http://s/"+tt.want {
			t.Errorf("AppendEscapedKey(%q) = %q, want %q", tt.key, got, "http://s/"+tt.want)
		}
		if got := EscapeKey(tt.key); got != tt.want {
			t.Errorf("EscapeKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	dst := make([]byte, 0, 256)
	key := []byte("nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-gtk+-3.24")
	if n := testing.AllocsPerRun(100, func() { dst = AppendEscapedKey(dst[:0], key) }); n != 0 {
		t.Errorf("AppendEscapedKey allocates %.0f times with room in dst, want 0", n)
	}
}
