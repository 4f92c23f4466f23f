package origin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/narthex-cache/narthex/narinfo"
)

func TestServer_UploadHappyPath(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ctx := t.Context()

	// Nix reads nix-cache-info, and PUTs its own if that fails.
	r := h.do(http.MethodGet, "/nix-cache-info", nil, "Authorization", "-")
	if want := "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"; r.status != 200 || r.body != want {
		t.Errorf("GET nix-cache-info = %d %q, want %q", r.status, r.body, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/x-nix-cache-info" {
		t.Errorf("nix-cache-info Content-Type = %q", ct)
	}
	if r := h.do(http.MethodPut, "/nix-cache-info", []byte("StoreDir: /nix/store\n")); r.status != http.StatusNoContent {
		t.Errorf("PUT nix-cache-info = %d %q, want 204", r.status, r.body)
	}
	checkError(t, h.do(http.MethodPut, "/nix-cache-info", []byte("StoreDir: /gnu/store\n")), 400, "does not match")

	// A dependency first, then a path referencing it.
	narA := newNar("compressed bytes of a", ".xz")
	h.putNar(narA)
	infoA := nixInfo("a-1.0", narA)
	h.putInfo(infoA)

	narB := newNar("compressed bytes of b", ".xz")
	if r := h.do(http.MethodHead, "/"+narB.url, nil); r.status != http.StatusNotFound {
		t.Errorf("HEAD of a NAR not uploaded = %d, want 404", r.status)
	}
	h.putNar(narB)
	infoB := nixInfo("b", narB, base(infoA))
	textB := infoB.Render()
	if r := h.do(http.MethodPut, "/"+infoB.Hash+".narinfo", textB, "Content-Type", "text/x-nix-narinfo"); r.status != 200 {
		t.Fatalf("PUT narinfo = %d %q", r.status, r.body)
	}

	// The stored text is the uploaded text plus our signature.
	r = h.do(http.MethodGet, "/"+infoB.Hash+".narinfo", nil, "Authorization", "-")
	if r.status != 200 {
		t.Fatalf("GET narinfo = %d %q", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/x-nix-narinfo" {
		t.Errorf("narinfo Content-Type = %q", ct)
	}
	if diff := cmp.Diff(h.signed(textB, infoB), r.body); diff != "" {
		t.Errorf("served narinfo (-want +got):\n%s", diff)
	}
	got, err := narinfo.Parse([]byte(r.body), narinfo.NixStoreDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sigs) != 1 || narinfo.CheckSig(got.Fingerprint(narinfo.NixStoreDir), got.Sigs[0], []narinfo.PublicKey{h.key.Public()}) != narinfo.SigValid {
		t.Errorf("served Sigs %q do not verify with the origin's key", got.Sigs)
	}
	if r := h.do(http.MethodHead, "/"+infoB.Hash+".narinfo", nil); r.status != 200 || r.header.Get("Content-Length") != itoa(len(h.signed(textB, infoB))) {
		t.Errorf("HEAD narinfo = %d, Content-Length %q", r.status, r.header.Get("Content-Length"))
	}
	if r := h.do(http.MethodGet, "/"+storeHash("absent")+".narinfo", nil); r.status != http.StatusNotFound {
		t.Errorf("GET absent narinfo = %d, want 404", r.status)
	}

	// The NAR is served from the local store.
	r = h.do(http.MethodHead, "/"+narB.url, nil)
	if r.status != 200 || r.header.Get("Content-Length") != itoa(len(narB.data)) || r.header.Get("Content-Type") != "application/x-nix-nar" {
		t.Errorf("HEAD NAR = %d, headers %v", r.status, r.header)
	}
	r = h.do(http.MethodGet, "/"+narB.url, nil, "Authorization", "-")
	if r.status != 200 || r.body != string(narB.data) || r.header.Get("Content-Type") != "application/x-nix-nar" {
		t.Errorf("GET NAR = %d %q, headers %v", r.status, r.body, r.header)
	}

	// The rows the edges and the garbage collector rely on.
	var (
		name, nh, deriver, system string
		size                      int64
		sigs                      []string
		ca                        *string
	)
	err = h.db.QueryRow(ctx, `SELECT name, nar_hash, nar_size, deriver, system, ca, sigs FROM narinfo WHERE hash = $1`, infoB.Hash).
		Scan(&name, &nh, &size, &deriver, &system, &ca, &sigs)
	if err != nil {
		t.Fatal(err)
	}
	if name != "b" || nh != infoB.NarHash || size != int64(infoB.NarSize) || deriver != infoB.Deriver || system != "x86_64-linux" || ca != nil || !slices.Equal(sigs, got.Sigs) {
		t.Errorf("narinfo row = %q %q %d %q %q %v %q", name, nh, size, deriver, system, ca, sigs)
	}
	var refs []string
	if err := h.db.QueryRow(ctx, `SELECT array_agg(reference ORDER BY reference) FROM reference WHERE referrer = $1`, infoB.Hash).Scan(&refs); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{infoA.Hash}, refs); diff != "" {
		t.Errorf("references (-want +got):\n%s", diff)
	}
	var fileURL, fileHash, compression, key, baseURL string
	var fileSize int64
	err = h.db.QueryRow(ctx, `
		SELECT nf.url, nf.file_hash, nf.file_size, nf.compression, pl.key, s.base_url
		FROM narinfo_file f JOIN nar_file nf USING (url) JOIN payload_location pl USING (url) JOIN store s ON s.id = pl.store_id
		WHERE f.narinfo_hash = $1`, infoB.Hash).Scan(&fileURL, &fileHash, &fileSize, &compression, &key, &baseURL)
	if err != nil {
		t.Fatal(err)
	}
	wantBase := strings.TrimSuffix(h.cfg.PublicURL, "/")
	if fileURL != narB.url || fileHash != narB.hash || fileSize != int64(len(narB.data)) || compression != "xz" || key != narB.url || baseURL != wantBase {
		t.Errorf("file rows = %q %q %d %q %q %q", fileURL, fileHash, fileSize, compression, key, baseURL)
	}
	// The download URL of the location is where the origin serves the file.
	if r := h.do(http.MethodGet, strings.TrimPrefix(baseURL+"/"+key, h.ts.URL), nil); r.body != string(narB.data) {
		t.Errorf("download URL %s/%s does not serve the NAR", baseURL, key)
	}

	// Uploading the same narinfo again changes nothing, with or without
	// more signatures.
	before := h.snapshot()
	storedB := h.storedBody(infoB.Hash)
	if r := h.do(http.MethodPut, "/"+infoB.Hash+".narinfo", textB); r.status != 200 {
		t.Errorf("identical re-upload = %d %q, want 200", r.status, r.body)
	}
	withSig := narinfo.AppendSig(textB, signWith(t, "someone-else", infoB))
	if r := h.do(http.MethodPut, "/"+infoB.Hash+".narinfo", withSig); r.status != 200 {
		t.Errorf("re-upload with another signature = %d %q, want 200", r.status, r.body)
	}
	reordered := *infoB
	reordered.References = []string{infoB.References[1], infoB.References[0]}
	if r := h.do(http.MethodPut, "/"+infoB.Hash+".narinfo", reordered.Render()); r.status != 200 {
		t.Errorf("re-upload with references reordered = %d %q, want 200", r.status, r.body)
	}
	// A NAR uploaded again is accepted.
	h.putNar(narB)
	h.unchanged(before)
	if got := h.storedBody(infoB.Hash); got != storedB {
		t.Errorf("re-upload changed the stored text to %q", got)
	}

	// A different narinfo for the same path is a conflict.
	for _, change := range []struct {
		field  string
		modify func(ni *narinfo.NarInfo)
	}{
		{"Deriver", func(ni *narinfo.NarInfo) { ni.Deriver = storeHash("other") + "-b.drv" }},
		{"NarHash", func(ni *narinfo.NarInfo) { ni.NarHash = narHash("other") }},
		{"References", func(ni *narinfo.NarInfo) { ni.References = ni.References[:1] }},
	} {
		other := *infoB
		change.modify(&other)
		checkError(t, h.do(http.MethodPut, "/"+infoB.Hash+".narinfo", other.Render()), http.StatusConflict, change.field)
	}
	h.unchanged(before)
}

func TestServer_GuixNarinfoSurvivesByteForByte(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.StoreDir = "/gnu/store" })
	if r := h.do(http.MethodGet, "/nix-cache-info", nil); !strings.HasPrefix(r.body, "StoreDir: /gnu/store\n") {
		t.Errorf("nix-cache-info = %q", r.body)
	}

	// A dependency, uploaded as Nix would.
	dep := newNar("glibc bytes", ".gz")
	h.putNar(dep)
	depHash := storeHash("glibc")
	depText := "StorePath: /gnu/store/" + depHash + "-glibc-2.35\n" +
		"URL: " + dep.url + "\nCompression: gzip\nFileSize: " + itoa(len(dep.data)) + "\n" +
		"NarHash: " + narHash("glibc") + "\nNarSize: 4242\nReferences: \n"
	if r := h.do(http.MethodPut, "/"+depHash+".narinfo", []byte(depText)); r.status != 200 {
		t.Fatalf("PUT dependency: %d %q", r.status, r.body)
	}

	// Several URL groups, no FileHash, no System, a Signature line.
	gz := newNar("hello gzip bytes", ".gz")
	zst := newNar("hello zstd bytes", ".zst")
	plain := newNar("hello uncompressed nar bytes", "")
	for _, n := range []nar{gz, zst, plain} {
		h.putNar(n)
	}
	hash := storeHash("hello")
	text := "StorePath: /gnu/store/" + hash + "-hello-2.12.1\n" +
		"URL: " + gz.url + "\nCompression: gzip\nFileSize: " + itoa(len(gz.data)) + "\n" +
		"URL: " + zst.url + "\nCompression: zstd\nFileSize: " + itoa(len(zst.data)) + "\n" +
		"URL: " + plain.url + "\nCompression: none\nFileSize: " + itoa(len(plain.data)) + "\n" +
		"NarHash: " + plain.hash + "\nNarSize: " + itoa(len(plain.data)) + "\n" +
		"References: " + depHash + "-glibc-2.35 " + hash + "-hello-2.12.1\n" +
		"Deriver: " + storeHash("hello drv") + "-hello-2.12.1.drv\n" +
		"Signature: 1;ci.guix.example;KHNpZ25hdHVyZSAKIChkYXRhIAogIChmbGFncyByZmM2OTc5KQogIChoYXNoIHNoYTI1NiAjMDAjKQogICkKICk=\n"
	if r := h.do(http.MethodPut, "/"+hash+".narinfo", []byte(text)); r.status != 200 {
		t.Fatalf("PUT Guix narinfo: %d %q", r.status, r.body)
	}
	ni, err := narinfo.Parse([]byte(text), "/gnu/store")
	if err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodGet, "/"+hash+".narinfo", nil)
	if diff := cmp.Diff(h.signed([]byte(text), ni), r.body); diff != "" {
		t.Errorf("served narinfo (-want +got):\n%s", diff)
	}
	var n int
	if err := h.db.QueryRow(t.Context(), `SELECT count(*) FROM narinfo_file WHERE narinfo_hash = $1`, hash).Scan(&n); err != nil || n != 3 {
		t.Errorf("narinfo_file rows = %d, %v; want 3", n, err)
	}
}

// mustKey makes a key pair named name.
func mustKey(t *testing.T, name string) (narinfo.SecretKey, narinfo.PublicKey) {
	t.Helper()
	sk, pk, err := narinfo.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return sk, pk
}

// signWith signs ni with a new key named name.
func signWith(t *testing.T, name string, ni *narinfo.NarInfo) string {
	sk, _ := mustKey(t, name)
	return sk.Sign(ni.Fingerprint(narinfo.NixStoreDir))
}

// badSig is a well-formed signature named name that verifies nothing.
func badSig(name string) string {
	return name + ":" + base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))
}

func TestServer_BadNarinfo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	narA := newNar("bytes of a", ".xz")
	h.putNar(narA)
	infoA := nixInfo("a", narA)
	h.putInfo(infoA)
	narC := newNar("bytes of c", ".xz")
	h.putNar(narC)

	// good is a narinfo that would be accepted; each case breaks it.
	good := func() *narinfo.NarInfo { return nixInfo("c", narC, base(infoA)) }
	goodText := string(good().Render())
	hashC := good().Hash
	replace := func(old, new string) []byte {
		if !strings.Contains(goodText, old) {
			t.Fatalf("narinfo has no %q", old)
		}
		return []byte(strings.Replace(goodText, old, new, 1))
	}
	render := func(change func(ni *narinfo.NarInfo)) []byte {
		ni := good()
		change(ni)
		return ni.Render()
	}
	withSig := func(sig string) []byte { return narinfo.AppendSig([]byte(goodText), sig) }

	tests := []struct {
		name   string
		path   string // default /<hash of c>.narinfo
		body   []byte
		header []string
		status int
		want   string
	}{
		{name: "missing NarHash", body: replace("NarHash: "+good().NarHash+"\n", ""), status: 400, want: "missing NarHash"},
		{name: "missing StorePath", body: replace("StorePath: "+good().StorePath+"\n", ""), status: 400, want: "missing StorePath"},
		{name: "bad hash encoding", body: replace(good().NarHash, "sha256:not-a-hash"), status: 400, want: "NarHash"},
		{name: "NarSize 0", body: render(func(ni *narinfo.NarInfo) { ni.NarSize = 0 }), status: 400, want: "NarSize"},
		{name: "CRLF", body: []byte(strings.ReplaceAll(goodText, "\n", "\r\n")), status: 400, want: "carriage return"},
		{name: "duplicate key", body: replace("NarSize: ", "System: x86_64-linux\nNarSize: "), status: 400, want: "duplicate"},
		{name: "wrong store dir", body: replace("StorePath: /nix/store/", "StorePath: /gnu/store/"), status: 400, want: "store dir"},
		{name: "empty", body: nil, status: 400, want: "empty"},
		{name: "URL hash is not the StorePath hash", path: "/" + infoA.Hash + ".narinfo", body: []byte(goodText), status: 400, want: "not for hash"},
		{name: "invalid hash in URL", path: "/not-a-hash.narinfo", body: []byte(goodText), status: 400, want: "not a store path hash"},
		{name: "reference to an absent path", body: render(func(ni *narinfo.NarInfo) {
			ni.References = append(ni.References, storeHash("absent")+"-absent")
		}), status: 400, want: "-absent is not in the cache"},
		{name: "reference to a present hash with another name", body: render(func(ni *narinfo.NarInfo) {
			ni.References[1] = infoA.Hash + "-not-a"
		}), status: 400, want: "not in the cache"},
		{name: "self reference with another name", body: render(func(ni *narinfo.NarInfo) {
			ni.References[0] = ni.Hash + "-other"
		}), status: 400, want: "another name"},
		{name: "NAR never uploaded", body: render(func(ni *narinfo.NarInfo) {
			n := newNar("never uploaded", ".xz")
			ni.Files[0].URL, ni.Files[0].FileHash = n.url, n.hash
		}), status: 400, want: "has not been uploaded"},
		{name: "FileSize differs", body: render(func(ni *narinfo.NarInfo) { ni.Files[0].FileSize++ }), status: 400, want: "FileSize of " + narC.url},
		{name: "FileHash differs", body: render(func(ni *narinfo.NarInfo) { ni.Files[0].FileHash = narA.hash }), status: 400, want: "FileHash of " + narC.url},
		{name: "Compression differs", body: render(func(ni *narinfo.NarInfo) { ni.Files[0].Compression = "zstd" }), status: 400, want: "Compression of " + narC.url},
		{name: "missing Compression read as bzip2", body: replace("Compression: xz\n", ""), status: 400, want: "bzip2"},
		{name: "URL not a NAR file name", body: render(func(ni *narinfo.NarInfo) { ni.Files[0].URL = "nar/xz/" + ni.Hash + "-c" }), status: 400, want: "nar/<sha256"},
		{name: "URL listed twice", body: render(func(ni *narinfo.NarInfo) { ni.Files = append(ni.Files, ni.Files[0]) }), status: 400, want: "twice"},
		{name: "uncompressed NAR not matching NarHash", body: func() []byte {
			plain := newNar("plain nar bytes", "")
			h.putNar(plain)
			return render(func(ni *narinfo.NarInfo) {
				ni.Files[0] = narinfo.File{URL: plain.url, Compression: "none", FileHash: plain.hash, FileSize: uint64(len(plain.data))}
			})
		}(), status: 400, want: "uncompressed"},
		{name: "invalid signature by our key name", body: withSig(badSig("origin-test-1")), status: 400, want: "origin-test-1 does not verify"},
		{name: "signature by our key over another path", body: withSig(h.key.Sign(infoA.Fingerprint(narinfo.NixStoreDir))), status: 400, want: "does not verify"},
		{name: "CA garbage", body: replace("References: ", "CA: garbage!!\nReferences: "), status: 400, want: "CA: not"},
		{name: "CA with a short hash", body: replace("References: ", "CA: fixed:r:sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8\nReferences: "), status: 400, want: "invalid sha256 hash"},
		{name: "same Sig twice", body: narinfo.AppendSig(withSig(badSig("stranger-1")), badSig("stranger-1")), status: 400, want: "repeats signature 1"},
		{name: "reference repeated", body: render(func(ni *narinfo.NarInfo) {
			ni.References = append(ni.References, base(infoA), base(infoA))
		}), status: 400, want: "reference 3 repeats reference 2"},
		{name: "too many Sig lines", body: func() []byte {
			b := []byte(goodText)
			for i := range DefaultMaxSignatures + 1 {
				b = narinfo.AppendSig(b, badSig(fmt.Sprintf("stranger-%d", i)))
			}
			return b
		}(), status: 400, want: "65 Sig lines; at most 64"},
		{name: "malformed signature", body: replace("References: ", "Sig: nonsense\nReferences: "), status: 400, want: "Sig"},
		{name: "over the size limit", body: replace("References: ", "X: "+strings.Repeat("x", 9<<10)+"\nReferences: "), status: 413, want: "larger than the limit"},
		{name: "Content-Encoding", body: []byte(goodText), header: []string{"Content-Encoding", "gzip"}, status: 400, want: "Content-Encoding"},
		{name: "no token", body: []byte(goodText), header: []string{"Authorization", "-"}, status: 401, want: "token required"},
		{name: "wrong token", body: []byte(goodText), header: []string{"Authorization", "Bearer narthex_WRONG"}, status: 401, want: "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.in(t)
			path := tt.path
			if path == "" {
				path = "/" + hashC + ".narinfo"
			}
			before := h.snapshot()
			checkError(t, h.do(http.MethodPut, path, tt.body, tt.header...), tt.status, tt.want)
			h.unchanged(before)
		})
	}

	// The good narinfo itself is accepted, so each case failed for its own
	// reason.
	h.putInfo(good())
}

func TestServer_Signatures(t *testing.T) {
	t.Parallel()
	uploader, uploaderPub := mustKey(t, "uploader-1")
	stranger, _ := mustKey(t, "stranger")
	tests := []struct {
		name    string
		require bool
		sigs    func(h *harness, fp string) []string
		status  int
		want    string
	}{
		{"unsigned accepted", false, func(*harness, string) []string { return nil }, 200, ""},
		{"unknown key kept", false, func(_ *harness, fp string) []string { return []string{stranger.Sign(fp)} }, 200, ""},
		{"trusted key", false, func(_ *harness, fp string) []string { return []string{uploader.Sign(fp)} }, 200, ""},
		{"invalid by a trusted key name", false, func(*harness, string) []string { return []string{badSig("uploader-1")} }, 400, "uploader-1 does not verify"},
		{"required and missing", true, func(*harness, string) []string { return nil }, 403, "no valid signature by a trusted key (uploader-1)"},
		{"required, only an unknown key", true, func(_ *harness, fp string) []string { return []string{stranger.Sign(fp)} }, 403, "trusted key"},
		{"required, only our own key", true, func(h *harness, fp string) []string { return []string{h.key.Sign(fp)} }, 403, "trusted key"},
		{"required and present", true, func(_ *harness, fp string) []string { return []string{uploader.Sign(fp), stranger.Sign(fp)} }, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.TrustedKeys = []narinfo.PublicKey{uploaderPub}
				c.RequireTrustedSignature = tt.require
			})
			n := newNar("bytes", ".xz")
			h.putNar(n)
			ni := nixInfo("p", n)
			ni.Sigs = tt.sigs(h, ni.Fingerprint(narinfo.NixStoreDir))
			text := ni.Render()
			before := h.snapshot()
			r := h.do(http.MethodPut, "/"+ni.Hash+".narinfo", text)
			if tt.status != 200 {
				checkError(t, r, tt.status, tt.want)
				h.unchanged(before)
				return
			}
			if r.status != 200 {
				t.Fatalf("PUT = %d %q", r.status, r.body)
			}
			// Our signature is appended after the uploaded ones.
			if got, want := h.storedBody(ni.Hash), h.signed(text, ni); got != want {
				t.Errorf("stored %q, want %q", got, want)
			}
		})
	}
}

func TestServer_OwnSignatureNotDuplicated(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	n := newNar("bytes", ".xz")
	h.putNar(n)
	ni := nixInfo("p", n)
	ni.Sigs = []string{h.key.Sign(ni.Fingerprint(narinfo.NixStoreDir))}
	text := ni.Render()
	if r := h.do(http.MethodPut, "/"+ni.Hash+".narinfo", text); r.status != 200 {
		t.Fatalf("PUT = %d %q", r.status, r.body)
	}
	if got := h.storedBody(ni.Hash); got != string(text) {
		t.Errorf("stored %q, want the uploaded text %q", got, text)
	}
}

func TestServer_ReferenceDeletedDuringUpload(t *testing.T) {
	t.Parallel()
	type deletion struct {
		sql string
		arg func(a *narinfo.NarInfo, narB nar) string
	}
	hashOf := func(a *narinfo.NarInfo, _ nar) string { return a.Hash }
	urlOf := func(_ *narinfo.NarInfo, n nar) string { return n.url }
	tests := []struct {
		name   string
		delete []deletion // run by another connection just before the insert
		want   func(a *narinfo.NarInfo, narB nar) string
	}{
		{"referenced path", []deletion{{`DELETE FROM narinfo WHERE hash = $1`, hashOf}}, func(a *narinfo.NarInfo, _ nar) string {
			return a.StorePath + ", which this narinfo references, was deleted during the upload"
		}},
		{"NAR file", []deletion{
			{`DELETE FROM payload_location WHERE url = $1`, urlOf},
			{`DELETE FROM nar_file WHERE url = $1`, urlOf},
		}, func(_ *narinfo.NarInfo, n nar) string {
			return "NAR file " + n.url + ", which this narinfo lists, was deleted during the upload"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			narA := newNar("a", ".xz")
			h.putNar(narA)
			infoA := nixInfo("a", narA)
			h.putInfo(infoA)
			narB := newNar("b", ".xz")
			h.putNar(narB)
			infoB := nixInfo("b", narB, base(infoA))

			var before snapshot
			h.srv.beforeInsert = func(ctx context.Context) {
				for _, d := range tt.delete {
					if _, err := h.db.Exec(ctx, d.sql, d.arg(infoA, narB)); err != nil {
						t.Errorf("%s: %v", d.sql, err)
					}
				}
				before = h.snapshot()
			}
			checkError(t, h.do(http.MethodPut, "/"+infoB.Hash+".narinfo", infoB.Render()), 400, tt.want(infoA, narB))
			h.unchanged(before)
		})
	}
}

func TestServer_ConcurrentUploadsOfOnePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		other  func(ni narinfo.NarInfo) *narinfo.NarInfo // what the concurrent upload puts
		status int                                       // the answer to the upload that loses the race
	}{
		{"identical", func(ni narinfo.NarInfo) *narinfo.NarInfo { return &ni }, 200},
		{"different", func(ni narinfo.NarInfo) *narinfo.NarInfo { ni.System = "aarch64-linux"; return &ni }, 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			n := newNar("bytes", ".xz")
			h.putNar(n)
			ni := nixInfo("p", n)
			other := tt.other(*ni)

			// Just before the first upload inserts, a second one of the same
			// path runs to its commit.
			var fired atomic.Bool
			var otherStatus int
			h.srv.beforeInsert = func(ctx context.Context) {
				if fired.Swap(true) {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, h.ts.URL+"/"+ni.Hash+".narinfo", bytes.NewReader(other.Render()))
				req.Header.Set("Authorization", "Bearer "+h.token)
				resp, err := h.ts.Client().Do(req)
				if err != nil {
					t.Errorf("concurrent upload: %v", err)
					return
				}
				resp.Body.Close()
				otherStatus = resp.StatusCode
			}
			r := h.do(http.MethodPut, "/"+ni.Hash+".narinfo", ni.Render())
			if otherStatus != 200 {
				t.Errorf("concurrent upload = %d, want 200", otherStatus)
			}
			if r.status != tt.status {
				t.Errorf("upload that lost the race = %d %q, want %d", r.status, r.body, tt.status)
			}
			if got, want := h.storedBody(ni.Hash), h.signed(other.Render(), other); got != want {
				t.Errorf("stored %q, want the concurrent upload %q", got, want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A narinfo stored before a check that now refuses it is not replaced by an
// upload of its path, and the uploader is told why, with a 409 rather than
// a server error.
func TestServer_StoredNarinfoThatTodaysChecksRefuse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	n := newNar("old", ".xz")
	h.putNar(n)
	ni := nixInfo("old", n)
	h.putInfo(ni)
	junk := strings.Replace(h.storedBody(ni.Hash), "System: x86_64-linux\n", "System: x86_64-linux\nCA: garbage!!\n", 1)
	if _, err := h.db.Exec(t.Context(), `UPDATE narinfo SET body = $2 WHERE hash = $1`, ni.Hash, junk); err != nil {
		t.Fatal(err)
	}
	before := h.snapshot()
	checkError(t, h.do(http.MethodPut, "/"+ni.Hash+".narinfo", ni.Render()), http.StatusConflict, "today's checks refuse")
	h.unchanged(before)
	if got := h.storedBody(ni.Hash); got != junk {
		t.Errorf("stored text changed to %q", got)
	}
}
