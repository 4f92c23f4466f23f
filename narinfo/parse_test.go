package narinfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nixRefs is testdata/nix-refs.narinfo, written by Nix 2.8.
var nixRefs = NarInfo{
	StorePath: "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b",
	Hash:      "fy9ws4wcsdx389rkcbqryhn5c5p9cs30",
	Name:      "b",
	Files: []File{{
		URL:         "nar/0h16gd20nda6v76p208rdkxbis81g1r1cqb8hzpqy5rricbqcjaw.nar.xz",
		Compression: "xz",
		FileHash:    "sha256:0h16gd20nda6v76p208rdkxbis81g1r1cqb8hzpqy5rricbqcjaw",
		FileSize:    240,
	}},
	NarHash: "sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy",
	NarSize: 256,
	References: []string{
		"dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a",
		"fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b",
		"ym9vx160348szmpr1zdy3f18n5v69r8f-c-1.0",
	},
	Deriver: "2kff1lgzqsa2biz3y156d5gri2vdj7iq-b.drv",
	Sigs:    []string{"narthex-test-1:Xu4o+HHx/bAjZsseE10H5/K2hJ3Ogmbgy0SncJZVJ7XL28//0vuSiJu4zOnsFNR8mo2TF59GGypk/fYOu0wACg=="},
}

// nixCA is testdata/nix-ca.narinfo, written by Nix 2.8 for a path made by
// nix-store --add.
var nixCA = NarInfo{
	StorePath: "/nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt",
	Hash:      "5klx9pxl1c90q0j01ph753cpfm5dz3as",
	Name:      "hello.txt",
	Files: []File{{
		URL:         "nar/09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d.nar.xz",
		Compression: "xz",
		FileHash:    "sha256:09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d",
		FileSize:    124,
	}},
	NarHash: "sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h",
	NarSize: 120,
	CA:      "fixed:r:sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h",
	Sigs:    []string{"narthex-test-1:sBL9KDHbNWx1Dyj5iOh8izraMx3UmipeEdVXZKAxMeZDf7eOUiDJhCulQYy69fbNqSPF3O8mhB7pIB4yxniGBw=="},
}

func TestParse_Valid(t *testing.T) {
	nixNone := nixCA
	nixNone.Files = []File{{
		URL:         "nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar",
		Compression: "none",
		FileHash:    "sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h",
		FileSize:    120,
	}}

	tests := []struct {
		file     string
		storeDir string
		want     NarInfo
	}{
		{"nix-refs.narinfo", NixStoreDir, nixRefs},
		{"nix-ca.narinfo", NixStoreDir, nixCA},
		{"nix-none.narinfo", NixStoreDir, nixNone},
		{"guix.narinfo", "/gnu/store", NarInfo{
			StorePath: "/gnu/store/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1",
			Hash:      "r8s84s5jn9y9k7l2c8chjgqj14mhrw0d",
			Name:      "hello-2.12.1",
			Files: []File{
				{URL: "nar/gzip/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1", Compression: "gzip", FileSize: 67344},
				{URL: "nar/zstd/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1", Compression: "zstd", FileSize: 62135},
				{URL: "nar/r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1", Compression: "none", FileSize: 226592},
			},
			NarHash: "sha256:0gsyc3g0w8wacg97wwm1iirigsl96k36iijdxiadn8cqcjmx18y1",
			NarSize: 226592,
			References: []string{
				"8d9ski2hby5hiirn1f8f6jg8ydrjwkzz-gcc-11.3.0-lib",
				"r8s84s5jn9y9k7l2c8chjgqj14mhrw0d-hello-2.12.1",
				"vy4h2hxx8xym53z5xcgr64v2fzxmyf91-glibc-2.35",
			},
			Deriver:       "c85hy91p1z73p3196kl7v5q720drjck4-hello-2.12.1.drv",
			GuixSignature: "1;ci.guix.example;KHNpZ25hdHVyZSAKIChkYXRhIAogIChmbGFncyByZmM2OTc5KQogIChoYXNoIHNoYTI1NiAjMDAjKQogICkKIChzaWctdmFsIAogIChlZGRzYSAKICAgKHIgIzAwIykKICAgKHMgIzAwIykKICAgKQogICkKIChwdWJsaWMta2V5IAogIChlY2MgCiAgIChjdXJ2ZSBFZDI1NTE5KQogICAocSAjMDAjKQogICApCiAgKQogKQo=",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(readTestdata(t, tt.file), tt.storeDir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// minimal is the smallest valid narinfo; the tests below change one thing in it.
const minimal = "StorePath: /nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b\n" +
	"URL: nar/0h16gd20nda6v76p208rdkxbis81g1r1cqb8hzpqy5rricbqcjaw.nar.xz\n" +
	"NarHash: sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy\n" +
	"NarSize: 256\n"

const narHash = "sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"

func TestParse_Fields(t *testing.T) {
	base := NarInfo{
		StorePath: "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b",
		Hash:      "fy9ws4wcsdx389rkcbqryhn5c5p9cs30",
		Name:      "b",
		Files:     []File{{URL: "nar/0h16gd20nda6v76p208rdkxbis81g1r1cqb8hzpqy5rricbqcjaw.nar.xz"}},
		NarHash:   "sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy",
		NarSize:   256,
	}
	tests := []struct {
		name string
		text string
		edit func(n *NarInfo)
	}{
		{"minimal", minimal, func(n *NarInfo) {}},
		{"unknown keys ignored", minimal + "Foo: bar\nStoreDir: /elsewhere\nFoo: baz\n", func(n *NarInfo) {}},
		{"empty references", minimal + "References: \n", func(n *NarInfo) {}},
		{"unknown-deriver", minimal + "Deriver: unknown-deriver\n", func(n *NarInfo) {}},
		{"narhash base16", strings.Replace(minimal, "NarHash: sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy",
			"NarHash: sha256:10551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6", 1),
			func(n *NarInfo) { n.NarHash = narHash }},
		{"narhash base64", strings.Replace(minimal, "NarHash: sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy",
			"NarHash: sha256:EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=", 1),
			func(n *NarInfo) { n.NarHash = narHash }},
		{"narhash SRI", strings.Replace(minimal, "NarHash: sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy",
			"NarHash: sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=", 1),
			func(n *NarInfo) { n.NarHash = narHash }},
		{"filehash base16", minimal + "FileHash: sha256:10551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6\n",
			func(n *NarInfo) { n.Files[0].FileHash = narHash }},
		{"filesize 0", minimal + "FileSize: 0\n", func(n *NarInfo) {}},
		{"largest size", strings.Replace(minimal, "NarSize: 256", "NarSize: 18446744073709551615", 1),
			func(n *NarInfo) { n.NarSize = 18446744073709551615 }},
		{"fields in any order", "NarSize: 256\nReferences: dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a\nSystem: x86_64-linux\n" +
			"NarHash: sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy\n" +
			"URL: nar/0h16gd20nda6v76p208rdkxbis81g1r1cqb8hzpqy5rricbqcjaw.nar.xz\nFileSize: 7\n" +
			"StorePath: /nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b\nCompression: xz\n",
			func(n *NarInfo) {
				n.References = []string{"dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a"}
				n.System = "x86_64-linux"
				n.Files[0].FileSize = 7
				n.Files[0].Compression = "xz"
			}},
		{"sigs in order", minimal + "Sig: b:" + strings.Repeat("A", 86) + "==\nSig: a:" + strings.Repeat("B", 86) + "==\n",
			func(n *NarInfo) {
				n.Sigs = []string{"b:" + strings.Repeat("A", 86) + "==", "a:" + strings.Repeat("B", 86) + "=="}
			}},
		{"two URL groups", minimal + "Compression: xz\nURL: nar/x\nFileSize: 3\nCompression: none\n",
			func(n *NarInfo) {
				n.Files = []File{
					{URL: "nar/0h16gd20nda6v76p208rdkxbis81g1r1cqb8hzpqy5rricbqcjaw.nar.xz", Compression: "xz"},
					{URL: "nar/x", Compression: "none", FileSize: 3},
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base
			want.Files = append([]File(nil), base.Files...)
			tt.edit(&want)
			got, err := Parse([]byte(tt.text), NixStoreDir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParse_Invalid(t *testing.T) {
	const (
		sp  = "StorePath: /nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b\n"
		url = "URL: nar/0h16gd20nda6v76p208rdkxbis81g1r1cqb8hzpqy5rricbqcjaw.nar.xz\n"
		nh  = "NarHash: sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy\n"
		ns  = "NarSize: 256\n"
		ca  = "fixed:r:sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"
	)
	tests := []struct {
		name    string
		text    string
		wantErr string
	}{
		// Framing.
		{"empty", "", "narinfo: empty"},
		{"invalid UTF-8", minimal + "Foo: \xff\n", "narinfo: not valid UTF-8"},
		{"no final newline", strings.TrimSuffix(minimal, "\n"), "narinfo: last line does not end in a newline"},
		{"CRLF", strings.ReplaceAll(minimal, "\n", "\r\n"), "narinfo line 1: carriage return (CRLF line ending)"},
		{"CR at end", minimal + "\r", "narinfo: last line does not end in a newline"},
		{"CR alone", minimal + "\r\n", "narinfo line 5: carriage return (CRLF line ending)"},
		{"empty line", sp + url + "\n" + nh + ns, "narinfo line 3: empty line"},
		{"trailing empty line", minimal + "\n", "narinfo line 5: empty line"},
		{"only newline", "\n", "narinfo line 1: empty line"},
		{"tab", minimal + "System:\tx86_64-linux\n", "narinfo line 5: control character"},
		{"NUL", minimal + "System: x86\x00\n", "narinfo line 5: control character"},

		// Line syntax.
		{"no colon", minimal + "System x86_64-linux\n", `narinfo line 5: line is not "Key: value"`},
		{"no space after colon", minimal + "System:x86_64-linux\n", `narinfo line 5: line is not "Key: value"`},
		{"references without space", minimal + "References:\n", `narinfo line 5: line is not "Key: value"`},
		{"two spaces", minimal + "System:  x86_64-linux\n", "narinfo line 5: System: more than one space after colon"},
		{"space before colon", minimal + "System : x86_64-linux\n", "narinfo line 5: key is not [A-Za-z]+"},
		{"leading space", minimal + " System: x86_64-linux\n", "narinfo line 5: key is not [A-Za-z]+"},
		{"key with dash", minimal + "X-Foo: bar\n", "narinfo line 5: key is not [A-Za-z]+"},
		{"empty key", minimal + ": bar\n", "narinfo line 5: key is not [A-Za-z]+"},
		{"empty value", minimal + "System: \n", "narinfo line 5: System: empty value"},
		{"empty unknown value", minimal + "Foo: \n", "narinfo line 5: Foo: empty value"},

		// Repetition.
		{"duplicate StorePath", minimal + sp, "narinfo line 5: duplicate key StorePath"},
		{"duplicate NarHash", minimal + nh, "narinfo line 5: duplicate key NarHash"},
		{"duplicate NarSize", minimal + ns, "narinfo line 5: duplicate key NarSize"},
		{"duplicate References", minimal + "References: \nReferences: \n", "narinfo line 6: duplicate key References"},
		{"duplicate Deriver", minimal + "Deriver: unknown-deriver\nDeriver: unknown-deriver\n", "narinfo line 6: duplicate key Deriver"},
		{"duplicate System", minimal + "System: a\nSystem: a\n", "narinfo line 6: duplicate key System"},
		{"duplicate CA", minimal + "CA: " + ca + "\nCA: " + ca + "\n", "narinfo line 6: duplicate key CA"},
		{"repeated Sig", minimal + "Sig: k:" + strings.Repeat("A", 86) + "==\nSig: j:" + strings.Repeat("A", 86) + "==\nSig: k:" + strings.Repeat("A", 86) + "==\n",
			"narinfo line 7: Sig: repeats signature 1"},
		{"repeated reference", minimal + "References: dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a\n",
			"narinfo line 5: References: reference 3 repeats reference 1"},
		{"reference repeated 25000 times", minimal + "References: " + strings.Repeat("dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a ", 24999) + "dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a\n",
			"narinfo line 5: References: reference 2 repeats reference 1"},
		{"duplicate Signature", minimal + "Signature: a\nSignature: a\n", "narinfo line 6: duplicate key Signature"},
		{"duplicate Compression", minimal + "Compression: xz\nCompression: xz\n", "narinfo line 6: duplicate key Compression for the same URL"},
		{"duplicate FileHash", minimal + "FileHash: " + narHash + "\nFileHash: " + narHash + "\n", "narinfo line 6: duplicate key FileHash for the same URL"},
		{"duplicate FileSize", minimal + "FileSize: 1\nFileSize: 1\n", "narinfo line 6: duplicate key FileSize for the same URL"},
		{"Compression before URL", sp + "Compression: xz\n" + url + nh + ns, "narinfo line 2: Compression before URL"},
		{"FileHash before URL", sp + "FileHash: " + narHash + "\n" + url + nh + ns, "narinfo line 2: FileHash before URL"},
		{"FileSize before URL", sp + "FileSize: 1\n" + url + nh + ns, "narinfo line 2: FileSize before URL"},

		// Required fields.
		{"missing StorePath", url + nh + ns, "narinfo: missing StorePath"},
		{"missing URL", sp + nh + ns, "narinfo: missing URL"},
		{"missing NarHash", sp + url + ns, "narinfo: missing NarHash"},
		{"missing NarSize", sp + url + nh, "narinfo: missing NarSize"},

		// StorePath.
		{"wrong store dir", "StorePath: /gnu/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b\n" + url + nh + ns,
			"narinfo line 1: StorePath: wrong store dir, want /nix/store"},
		{"bad store hash", "StorePath: /nix/store/ey9ws4wcsdx389rkcbqryhn5c5p9cs30-b\n" + url + nh + ns,
			"narinfo line 1: StorePath: invalid store path hash"},
		{"short store hash", "StorePath: /nix/store/y9ws4wcsdx389rkcbqryhn5c5p9cs30-b\n" + url + nh + ns,
			"narinfo line 1: StorePath: store path base name is not <hash>-<name>"},
		{"bad store name", "StorePath: /nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-a/b\n" + url + nh + ns,
			"narinfo line 1: StorePath: store path name has a character outside [A-Za-z0-9+-._?=]"},
		{"long store name", "StorePath: /nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-" + strings.Repeat("a", 212) + "\n" + url + nh + ns,
			"narinfo line 1: StorePath: store path name longer than 211 characters"},

		// Hashes.
		{"narhash without type", sp + url + "NarHash: 1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy\n" + ns,
			`narinfo line 3: NarHash: hash does not start with "sha256:"`},
		{"narhash sha512", sp + url + "NarHash: sha512:37iwwa5iw4m6pkd6qs2c5lw13q7y16hw2rv4i1cx6jax6yibhn6fgajbwc8p4j1fc6iicpy5r1vi7hpfq3n6z1ikhm5kcyz2b1frk80\n" + ns,
			`narinfo line 3: NarHash: hash does not start with "sha256:"`},
		{"narhash md5", sp + url + "NarHash: md5:0d5g0hqicmq7f9hn3q2fdcjk9q\n" + ns,
			`narinfo line 3: NarHash: hash does not start with "sha256:"`},
		{"narhash bad nixbase32", sp + url + "NarHash: sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55de\n" + ns,
			"narinfo line 3: NarHash: invalid sha256 hash"},
		{"narhash too long for nixbase32", sp + url + "NarHash: sha256:zrh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy\n" + ns,
			"narinfo line 3: NarHash: invalid sha256 hash"},
		{"narhash short", sp + url + "NarHash: sha256:1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55d\n" + ns,
			"narinfo line 3: NarHash: invalid sha256 hash"},
		{"narhash bad base16", sp + url + "NarHash: sha256:g0551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6\n" + ns,
			"narinfo line 3: NarHash: invalid sha256 hash"},
		{"narhash bad base64", sp + url + "NarHash: sha256:EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEuf*=\n" + ns,
			"narinfo line 3: NarHash: invalid sha256 hash"},
		{"narhash base64 of 33 bytes", sp + url + "NarHash: sha256:" + strings.Repeat("0", 44) + "\n" + ns,
			"narinfo line 3: NarHash: invalid sha256 hash"},
		{"narhash SRI nixbase32", sp + url + "NarHash: sha256-1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy\n" + ns,
			"narinfo line 3: NarHash: invalid sha256 hash"},
		{"filehash without type", minimal + "FileHash: 1rh6ac7s78wgicnzrny6afir10ccr1k697zzfwc0jp3wy00x55dy\n",
			`narinfo line 5: FileHash: hash does not start with "sha256:"`},
		{"filehash bad", minimal + "FileHash: sha256:xyz\n", "narinfo line 5: FileHash: invalid sha256 hash"},

		// Sizes.
		{"narsize 0", sp + url + nh + "NarSize: 0\n", "narinfo line 4: NarSize must be > 0"},
		{"narsize negative", sp + url + nh + "NarSize: -1\n", "narinfo line 4: NarSize: not a decimal number"},
		{"narsize plus", sp + url + nh + "NarSize: +1\n", "narinfo line 4: NarSize: not a decimal number"},
		{"narsize hex", sp + url + nh + "NarSize: 0x10\n", "narinfo line 4: NarSize: not a decimal number"},
		{"narsize trailing space", sp + url + nh + "NarSize: 1 \n", "narinfo line 4: NarSize: not a decimal number"},
		{"narsize leading zero", sp + url + nh + "NarSize: 01\n", "narinfo line 4: NarSize: leading zero"},
		{"narsize overflow", sp + url + nh + "NarSize: 18446744073709551616\n", "narinfo line 4: NarSize: too large"},
		{"filesize negative", minimal + "FileSize: -1\n", "narinfo line 5: FileSize: not a decimal number"},
		{"filesize leading zero", minimal + "FileSize: 00\n", "narinfo line 5: FileSize: leading zero"},
		{"filesize overflow", minimal + "FileSize: 99999999999999999999\n", "narinfo line 5: FileSize: too large"},

		// References and Deriver.
		{"reference full path", minimal + "References: /nix/store/dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a\n",
			"narinfo line 5: References: store path base name is not <hash>-<name>"},
		{"reference bad hash", minimal + "References: dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a ecgxgfrhy8mb76rg8f1djpw23cl3fzmx-a\n",
			"narinfo line 5: References: invalid store path hash"},
		{"reference double space", minimal + "References: dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a  fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b\n",
			"narinfo line 5: References: store path base name is not <hash>-<name>"},
		{"reference trailing space", minimal + "References: dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a \n",
			"narinfo line 5: References: store path base name is not <hash>-<name>"},
		{"deriver not drv", minimal + "Deriver: 2kff1lgzqsa2biz3y156d5gri2vdj7iq-b\n", "narinfo line 5: Deriver: does not end in .drv"},
		{"deriver full path", minimal + "Deriver: /nix/store/2kff1lgzqsa2biz3y156d5gri2vdj7iq-b.drv\n",
			"narinfo line 5: Deriver: store path base name is not <hash>-<name>"},

		// Sig and URL.
		{"sig no name", minimal + "Sig: " + strings.Repeat("A", 86) + "==\n", "narinfo line 5: Sig: not <key name>:<base64 of 64 bytes>"},
		{"sig empty name", minimal + "Sig: :" + strings.Repeat("A", 86) + "==\n", "narinfo line 5: Sig: not <key name>:<base64 of 64 bytes>"},
		{"sig short", minimal + "Sig: k:" + strings.Repeat("A", 84) + "==\n", "narinfo line 5: Sig: not <key name>:<base64 of 64 bytes>"},
		{"sig not base64", minimal + "Sig: k:" + strings.Repeat("*", 86) + "==\n", "narinfo line 5: Sig: not <key name>:<base64 of 64 bytes>"},
		{"URL with space", sp + "URL: nar/a b\n" + nh + ns, "narinfo line 2: URL: contains a space"},
		{"URL empty", sp + "URL: \n" + nh + ns, "narinfo line 2: URL: empty value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse([]byte(tt.text), NixStoreDir)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error %q", n, tt.wantErr)
			}
			if got := err.Error(); got != tt.wantErr {
				t.Errorf("Parse error = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestParse_CA(t *testing.T) {
	const (
		sha256Base32 = "1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"
		sha256Base16 = "0551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f60"
		sha256Base64 = "BVHa7X+kZ9C1iCbn65oPKvfWk94xny73df/82iRLn2A="
		sha1Base16   = "a9993e364706816aba3e25717850c26c9cd0d89d"
		sha1Base32   = "0mdqa9w1p6cmli6976v4wi0sw9r4p5pg"
		md5Base32    = "0d5g0hqicmq7f9hn3q2fdcjk9q"
	)
	tests := []struct {
		ca      string
		wantErr string // "" when valid
	}{
		{"fixed:r:sha256:" + sha256Base32, ""},
		{"fixed:sha256:" + sha256Base32, ""},
		{"text:sha256:" + sha256Base32, ""},
		{"fixed:r:sha256:" + sha256Base16, ""},
		{"fixed:r:sha256:" + sha256Base64, ""},
		{"fixed:sha1:" + sha1Base16, ""},
		{"fixed:r:sha1:" + sha1Base32, ""},
		{"fixed:md5:" + md5Base32, ""},
		{"garbage!!", `not "fixed:[r:]<algo>:<hash>" or "text:sha256:<hash>"`},
		{"fixed:garbage!!", "hash is not <md5|sha1|sha256|sha512>:<digest>"},
		{"source:sha256:" + sha256Base32, `method is neither "fixed" nor "text"`},
		{"text:sha1:" + sha1Base16, "text hash is not sha256"},
		{"fixed:r:" + sha256Base32, "hash is not <md5|sha1|sha256|sha512>:<digest>"},
		{"fixed:r:sha384:" + sha256Base32, "hash is not <md5|sha1|sha256|sha512>:<digest>"},
		{"fixed:r:r:sha256:" + sha256Base32, "hash is not <md5|sha1|sha256|sha512>:<digest>"},
		{"fixed:r:sha256-" + sha256Base64, "hash is not <md5|sha1|sha256|sha512>:<digest>"},
		{"fixed:r:sha256:" + sha256Base32[1:], "invalid sha256 hash"},
		{"fixed:r:sha256:" + sha256Base32 + "0", "invalid sha256 hash"},
		{"fixed:r:sha256:e" + sha256Base32[1:], "invalid sha256 hash"},
		{"fixed:r:sha256:" + strings.Repeat("0", 44), "invalid sha256 hash"},
		{"fixed:r:sha1:" + sha256Base32, "invalid sha1 hash"},
		{"text:sha256:", "invalid sha256 hash"},
	}
	for _, tt := range tests {
		t.Run(tt.ca, func(t *testing.T) {
			n, err := Parse([]byte(minimal+"CA: "+tt.ca+"\n"), NixStoreDir)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Parse error = %v, want CA %q accepted", err, tt.ca)
			case tt.wantErr == "" && n.CA != tt.ca:
				t.Errorf("CA = %q, want it kept as written, %q", n.CA, tt.ca)
			case tt.wantErr != "" && (err == nil || err.Error() != "narinfo line 5: CA: "+tt.wantErr):
				t.Errorf("Parse error = %v, want %q", err, "narinfo line 5: CA: "+tt.wantErr)
			}
		})
	}
}
