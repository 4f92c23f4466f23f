package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nix-community/go-nix/pkg/nixbase32"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/narthex-cache/narthex/origin"
)

// TestOrigin_ConfigErrorsNameFlags checks that a bad setting is reported
// by the flag the user typed, before anything is started.
func TestOrigin_ConfigErrorsNameFlags(t *testing.T) {
	t.Parallel()
	tests := []struct{ flag, value, want string }{
		{"--max-conns-per-client", "-1", "--max-conns-per-client -1 must not be negative"},
		{"--temp-file-max-age", "30s", "--temp-file-max-age 30s must be longer than --upload-rate-window 1m0s"},
		{"--store-dir", "/nix/store/", `--store-dir "/nix/store/"`},
		{"--min-upload-rate", "-5", "--min-upload-rate -5 must not be negative"},
		{"--maintain-interval", "-1m", "--maintain-interval -1m0s must not be negative"},
		{"--gc-interval", "-1h", "--gc-interval -1h0m0s must not be negative"},
		{"--gc-batch-size", "-1", "--gc-batch-size -1 must be at least 1"},
		{"--gc-payload-grace", "-1s", "--gc-payload-grace -1s must not be negative"},
		{"--gc-keep-fetched-days", "-2", "--gc-keep-fetched-days -2 must not be negative"},
	}
	for _, tt := range tests {
		cmd := exec.Command(os.Args[0], "origin", "--database-url", "postgres://127.0.0.1:1/none", "--gc-interval", "1h", tt.flag, tt.value)
		cmd.Env = append(os.Environ(), "NARTHEX_TEST_AS_MAIN=1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("narthex origin %s %s = %v:\n%s\nwant an error with %q", tt.flag, tt.value, err, out, tt.want)
		}
	}
}

// TestOrigin_SIGKILLDuringUpload kills an origin without signing keys
// while an upload is half sent, and checks that the origin started again
// removes the temporary file the upload left, and serves unsigned
// narinfos.
func TestOrigin_SIGKILLDuringUpload(t *testing.T) {
	url := pgtest.NewOriginDatabase(t)
	db, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	token, err := origin.CreateToken(t.Context(), db, "uploader")
	if err != nil {
		t.Fatal(err)
	}
	store := tempDir(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	args := []string{"origin", "--listen", addr, "--database-url", url, "--local-store", store,
		"--upload-rate-window", "1s", "--min-upload-rate", "100", "--temp-file-max-age", "3s", "--sweep-interval", "1s"}

	p := startNarthex(t, args...)
	p.waitLog(t, "signs nothing", time.Minute)
	p.waitLog(t, "origin listening", time.Minute)

	// Half a NAR file, sent at once, and the rest never: the origin is
	// killed with the upload's temporary file open.
	data := bytes.Repeat([]byte("nar bytes "), 10000)
	sum := sha256.Sum256(data)
	key := "nar/" + nixbase32.EncodeToString(sum[:]) + ".nar"
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /%s HTTP/1.1\r\nHost: origin\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", key, token, len(data))
	c.Write(data[:len(data)/2])
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(store, "nar", ".tmp-*"))
		return m
	}
	testutil.Eventually(t, "the upload's temporary file", time.Minute, func() bool { return len(temps()) > 0 })
	p.kill()

	p = startNarthex(t, args...)
	p.waitLog(t, "origin listening", time.Minute)
	testutil.Eventually(t, "the temporary file removed", time.Minute, func() bool { return len(temps()) == 0 })
	p.waitLog(t, "removed an interrupted upload's temporary file", time.Minute)

	// The upload, made again, is stored, and a narinfo for it is stored
	// and served without a signature.
	hash, _, ni := uploadPath(t, "http://"+addr, token, data)
	resp, err := http.Get("http://" + addr + "/" + hash + ".narinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || got.String() != ni {
		t.Errorf("GET narinfo = %d %q, want 200 with the uploaded text, unsigned", resp.StatusCode, got.String())
	}
}
