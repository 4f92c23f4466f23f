package narinfo

import "testing"

func TestParseNarFileName(t *testing.T) {
	const h = "1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"
	tests := []struct {
		path                  string
		fileHash, compression string // empty when an error is expected
	}{
		{"nar/" + h + ".nar", "sha256:" + h, "none"},
		{"nar/" + h + ".nar.xz", "sha256:" + h, "xz"},
		{"nar/" + h + ".nar.bz2", "sha256:" + h, "bzip2"},
		{"nar/" + h + ".nar.zst", "sha256:" + h, "zstd"},
		{"nar/" + h + ".nar.lzip", "sha256:" + h, "lzip"},
		{"nar/" + h + ".nar.lz4", "sha256:" + h, "lz4"},
		{"nar/" + h + ".nar.br", "sha256:" + h, "br"},
		{"nar/" + h + ".nar.gz", "sha256:" + h, "gzip"},

		{"", "", ""},
		{"nar/", "", ""},
		{h + ".nar", "", ""},
		{"/nar/" + h + ".nar", "", ""},
		{"nars/" + h + ".nar", "", ""},
		{"nar/xz/" + h + ".nar", "", ""},
		{"nar/../" + h + ".nar", "", ""},
		{"nar/../x", "", ""},
		{"../nar/" + h + ".nar", "", ""},
		{"nar/%2e%2e/" + h + ".nar", "", ""},
		{"nar/" + h + "%2enar", "", ""},
		{"%2e%2e/nar/" + h + ".nar", "", ""},
		{"nar/" + h + ".nar.", "", ""},
		{"nar/" + h + ".nar.xz.xz", "", ""},
		{"nar/" + h + ".nar.XZ", "", ""},
		{"nar/" + h + ".nar.gzip", "", ""},
		{"nar/" + h + ".nar/", "", ""},
		{"nar/" + h + ".narinfo", "", ""},
		{"nar/" + h, "", ""},
		{"nar/" + h[1:] + ".nar", "", ""}, // 51 chars
		{"nar/" + h + "0.nar", "", ""},    // 53 chars
		{"nar/1XMR8JICVZSZFZPZ46G37MLPVBZJL2WPWVL2B05PSIPSSYP1SM8H.nar", "", ""},
		{"nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1smeh.nar", "", ""},             // e
		{"nar/zxmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar", "", ""},             // more than 256 bits
		{"nar/10551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6.nar", "", ""}, // base16
		{"nar/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1", "", ""},                        // Guix
	}
	for _, tt := range tests {
		fileHash, compression, err := ParseNarFileName(tt.path)
		if tt.fileHash == "" {
			if err == nil {
				t.Errorf("ParseNarFileName(%q) = %q, %q, want an error", tt.path, fileHash, compression)
			}
			continue
		}
		if err != nil || fileHash != tt.fileHash || compression != tt.compression {
			t.Errorf("ParseNarFileName(%q) = %q, %q, %v, want %q, %q", tt.path, fileHash, compression, err, tt.fileHash, tt.compression)
		}
	}
}
