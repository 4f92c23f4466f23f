package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// uploader puts new paths to an origin one after another, each referring
// to the last one acknowledged, and keeps what became of each.
type uploader struct {
	base, token string
	client      *http.Client
	cancel      context.CancelFunc
	done        chan struct{} // closed when run has returned

	mu    sync.Mutex
	acked []ackedPath // narinfos answered 2xx, in order
	// failed counts uploads answered 5xx or lost to a connection error,
	// the last of which lastFailure says; refused holds the 4xx answers,
	// which no upload here deserves.
	failed      int
	lastFailure string
	refused     []string
}

type ackedPath struct {
	hash string
	sent time.Time // when its narinfo was sent
}

// uploadPause paces the uploader: a steady stream, not a load test.
const uploadPause = 20 * time.Millisecond

// maxUploads bounds the uploader's loop.
const maxUploads = 20000

// startUploader starts uploading to the origin at base with token, until
// stop or the end of the test.
func startUploader(t *testing.T, base, token string) *uploader {
	ctx, cancel := context.WithCancel(context.Background())
	u := &uploader{base: base, token: token, client: &http.Client{Timeout: 30 * time.Second},
		cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		u.run(ctx)
	}()
	t.Cleanup(u.stop)
	return u
}

// stop ends the uploads and waits for the one under way.
func (u *uploader) stop() {
	u.cancel()
	<-u.done
}

// run uploads until ctx ends.
func (u *uploader) run(ctx context.Context) {
	for range maxUploads {
		if ctx.Err() != nil {
			return
		}
		u.mu.Lock()
		var ref string
		if len(u.acked) > 0 {
			ref = u.acked[len(u.acked)-1].hash
		}
		u.mu.Unlock()
		hash, sent, status, err := u.upload(ctx, ref)
		if ctx.Err() != nil {
			return // an upload cut short by the end is neither
		}
		u.mu.Lock()
		switch {
		case err != nil || status >= 500:
			u.failed++
			u.lastFailure = fmt.Sprintf("%d %v", status, err)
		case status >= 400:
			u.refused = append(u.refused, fmt.Sprintf("%s: %d %v", hash, status, err))
		default:
			u.acked = append(u.acked, ackedPath{hash, sent})
		}
		u.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(uploadPause):
		}
	}
}

// upload puts a NAR file of fresh random bytes and then the narinfo of a
// new path listing it and referring to ref (none when empty), sent at
// sent. The status is the narinfo's, or the NAR file's when that failed.
func (u *uploader) upload(ctx context.Context, ref string) (hash string, sent time.Time, status int, err error) {
	data := make([]byte, 256)
	rand.Read(data)
	sum := sha256.Sum256(data)
	digest := nixbase32.EncodeToString(sum[:])
	key := "nar/" + digest + ".nar"
	if status, err := u.put(ctx, key, data); err != nil || status/100 != 2 {
		return "", time.Time{}, status, err
	}
	hash = testutil.RandomHash()
	refs := ""
	if ref != "" {
		refs = ref + "-p"
	}
	narinfo := fmt.Sprintf("StorePath: /nix/store/%s-p\nURL: %s\nCompression: none\nFileHash: sha256:%s\nFileSize: %d\n"+
		"NarHash: sha256:%s\nNarSize: %d\nReferences: %s\n", hash, key, digest, len(data), digest, len(data), refs)
	sent = time.Now()
	status, err = u.put(ctx, hash+".narinfo", []byte(narinfo))
	return hash, sent, status, err
}

func (u *uploader) put(ctx context.Context, path string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.base+"/"+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := u.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s", strings.TrimSpace(string(b)))
	}
	return resp.StatusCode, nil
}

// snapshot returns the hashes acknowledged so far, and those of them
// whose narinfo was sent after since.
func (u *uploader) snapshot(since time.Time) (all, after []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range u.acked {
		all = append(all, p.hash)
		if p.sent.After(since) {
			after = append(after, p.hash)
		}
	}
	return all, after
}

// counts returns how many uploads were acknowledged and how many failed.
func (u *uploader) counts() (acked, failed int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.acked), u.failed
}

// waitAcked waits until n more uploads than now are acknowledged.
func (u *uploader) waitAcked(t *testing.T, n int, what string) {
	t.Helper()
	start, _ := u.counts()
	testutil.Eventually(t, fmt.Sprintf("%d uploads acknowledged %s", n, what), 2*time.Minute, func() bool {
		acked, _ := u.counts()
		return acked >= start+n
	})
}

// narinfoStatus returns the status of GET base/hash.narinfo, 0 when the
// request fails.
func narinfoStatus(client *http.Client, base, hash string) int {
	resp, err := client.Get(base + "/" + hash + ".narinfo")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// waitAllServed waits until base answers 200 for each of hashes, in order
// (an edge applies transactions in commit order, the uploader's order),
// and returns how long that took.
func waitAllServed(t *testing.T, client *http.Client, name, base string, hashes []string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for i := 0; i < len(hashes); {
		code := narinfoStatus(client, base, hashes[i])
		if code == http.StatusOK {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d paths not served after %s; %s answers %d", name, len(hashes)-i, len(hashes), timeout, hashes[i], code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// readyzStatus returns the status of base's /readyz, 0 when the request
// fails.
func readyzStatus(client *http.Client, base string) int {
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// replicationConnected returns the value of base's
// narthex_replication_connected metric, "" when it cannot be read.
func replicationConnected(client *http.Client, base string) string {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "narthex_replication_connected "); ok {
			return v
		}
	}
	return ""
}

// originNarinfos returns every narinfo of the origin database, hash to
// body.
func originNarinfos(t *testing.T, dbURL string) map[string]string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("origin database: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT hash, body FROM narinfo")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for rows.Next() {
		var h, b string
		if err := rows.Scan(&h, &b); err != nil {
			t.Fatal(err)
		}
		m[h] = b
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}
