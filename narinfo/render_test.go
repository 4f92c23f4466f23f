package narinfo

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNarInfo_Render_Nix checks that rendering what Nix wrote gives back
// Nix's bytes, and that those parse to the same value.
func TestNarInfo_Render_Nix(t *testing.T) {
	for _, file := range []string{"nix-refs.narinfo", "nix-ca.narinfo", "nix-none.narinfo", "nix-deriver.narinfo"} {
		t.Run(file, func(t *testing.T) {
			text := readTestdata(t, file)
			n, err := Parse(text, NixStoreDir)
			if err != nil {
				t.Fatal(err)
			}
			rendered := n.Render()
			if diff := cmp.Diff(string(text), string(rendered)); diff != "" {
				t.Errorf("Render mismatch (-nix +got):\n%s", diff)
			}
			again, err := Parse(rendered, NixStoreDir)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(n, again); diff != "" {
				t.Errorf("Parse(Render(n)) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNarInfo_Render(t *testing.T) {
	tests := []struct {
		name string
		n    NarInfo
		want string
	}{
		{
			name: "defaults",
			n: NarInfo{
				StorePath: "/nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt",
				Files:     []File{{URL: "nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar"}},
				NarHash:   narHash,
				NarSize:   120,
			},
			want: "StorePath: /nix/store/5klx9pxl1c90q0j01ph753cpfm5dz3as-hello.txt\n" +
				"URL: nar/1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h.nar\n" +
				"Compression: none\n" +
				"NarHash: " + narHash + "\n" +
				"NarSize: 120\n" +
				"References: \n",
		},
		{
			name: "every field, two files",
			n: NarInfo{
				StorePath: "/nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b",
				Files: []File{
					{URL: "nar/a.nar.xz", Compression: "xz", FileHash: narHash, FileSize: 1},
					{URL: "nar/a.nar", FileSize: 2},
				},
				NarHash:       narHash,
				NarSize:       2,
				References:    []string{"dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a", "fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b"},
				Deriver:       "2kff1lgzqsa2biz3y156d5gri2vdj7iq-b.drv",
				System:        "x86_64-linux",
				CA:            "fixed:r:" + narHash,
				Sigs:          []string{"k1:c2ln", "k2:c2ln"},
				GuixSignature: "1;host;c2ln",
			},
			want: "StorePath: /nix/store/fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b\n" +
				"URL: nar/a.nar.xz\n" +
				"Compression: xz\n" +
				"FileHash: " + narHash + "\n" +
				"FileSize: 1\n" +
				"URL: nar/a.nar\n" +
				"Compression: none\n" +
				"FileSize: 2\n" +
				"NarHash: " + narHash + "\n" +
				"NarSize: 2\n" +
				"References: dcgxgfrhy8mb76rg8f1djpw23cl3fzmx-a fy9ws4wcsdx389rkcbqryhn5c5p9cs30-b\n" +
				"Deriver: 2kff1lgzqsa2biz3y156d5gri2vdj7iq-b.drv\n" +
				"System: x86_64-linux\n" +
				"Sig: k1:c2ln\n" +
				"Sig: k2:c2ln\n" +
				"CA: fixed:r:" + narHash + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, string(tt.n.Render())); diff != "" {
				t.Errorf("Render mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendSig(t *testing.T) {
	const sig = "narthex-test-1:Xu4o+HHx/bAjZsseE10H5/K2hJ3Ogmbgy0SncJZVJ7XL28//0vuSiJu4zOnsFNR8mo2TF59GGypk/fYOu0wACg=="
	tests := []struct {
		name string
		body string
		want string
	}{
		{"after newline", "A: b\n", "A: b\nSig: " + sig + "\n"},
		{"missing newline", "A: b", "A: b\nSig: " + sig + "\n"},
		{"empty", "", "Sig: " + sig + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, string(AppendSig([]byte(tt.body), sig))); diff != "" {
				t.Errorf("AppendSig mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAppendSig_DoesNotModifyBody(t *testing.T) {
	body := make([]byte, 0, 100)
	body = append(body, "A: b\n"...)
	_ = AppendSig(body, "k:c2ln")
	if got := string(body[:cap(body)][:len("A: b\n")+3]); got != "A: b\n\x00\x00\x00" {
		t.Errorf("AppendSig wrote into body's spare capacity: %q", got)
	}
}

func TestAppendSig_Guix(t *testing.T) {
	const sig = "narthex-test-1:Xu4o+HHx/bAjZsseE10H5/K2hJ3Ogmbgy0SncJZVJ7XL28//0vuSiJu4zOnsFNR8mo2TF59GGypk/fYOu0wACg=="
	text := readTestdata(t, "guix.narinfo")
	want, err := Parse(text, "/gnu/store")
	if err != nil {
		t.Fatal(err)
	}
	want.Sigs = []string{sig}

	got, err := Parse(AppendSig(text, sig), "/gnu/store")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(AppendSig(guix)) mismatch (-want +got):\n%s", diff)
	}
}
