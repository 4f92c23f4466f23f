package narinfo

import (
	"slices"
	"testing"
)

func TestNarInfo_Fingerprint(t *testing.T) {
	tests := []struct {
		name     string
		n        NarInfo
		storeDir string
		want     string
	}{
		{
			name:     "Nix fixture with references",
			n:        nixRefs,
			storeDir: NixStoreDir,
			want: "1;/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b;sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy;256;" +
				"/nix/store/dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a,/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b,/nix/store/ym9vx160348szmpr1zdy3f18n5v69r8f-c-1.0",
		},
		{
			name:     "no references leave a trailing semicolon",
			n:        nixCA,
			storeDir: NixStoreDir,
			want:     "1;/nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt;sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h;120;",
		},
		{
			name: "references are sorted",
			n: NarInfo{
				StorePath: "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b",
				NarHash:   narHash,
				NarSize:   1,
				References: []string{
					"ym9vx160348szmpr1zdy3f18n5v69r8f-c-1.0",
					"fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b",
					"dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a",
				},
			},
			storeDir: NixStoreDir,
			want: "1;/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b;" + narHash + ";1;" +
				"/nix/store/dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a,/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b,/nix/store/ym9vx160348szmpr1zdy3f18n5v69r8f-c-1.0",
		},
		{
			name: "NarHash in base16 is signed as nixbase32",
			n: NarInfo{
				StorePath: "/nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt",
				NarHash:   "sha256:10551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6",
				NarSize:   120,
			},
			storeDir: NixStoreDir,
			want:     "1;/nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt;" + narHash + ";120;",
		},
		{
			name: "other store dir",
			n: NarInfo{
				StorePath:  "/gnu/store/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1",
				NarHash:    narHash,
				NarSize:    7,
				References: []string{"vy4h2hxx8xym53z5xcgr64v2fzxmyf91-glibc-2.35", "8d9ski2hby5hiirn1f8f6jg8ydrjwkzz-gcc-11.3.0-lib"},
			},
			storeDir: "/gnu/store",
			want: "1;/gnu/store/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1;" + narHash + ";7;" +
				"/gnu/store/8d9ski2hby5hiirn1f8f6jg8ydrjwkzz-gcc-11.3.0-lib,/gnu/store/vy4h2hxx8xym53z5xcgr64v2fzxmyf91-glibc-2.35",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs := slices.Clone(tt.n.References)
			if got := tt.n.Fingerprint(tt.storeDir); got != tt.want {
				t.Errorf("Fingerprint = %q, want %q", got, tt.want)
			}
			if !slices.Equal(refs, tt.n.References) {
				t.Errorf("Fingerprint reordered References to %q", tt.n.References)
			}
		})
	}
}
