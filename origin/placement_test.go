package origin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/narthex-cache/narthex/internal/s3test"
	"github.com/narthex-cache/narthex/placement"
	"github.com/narthex-cache/narthex/stores"
)

// openLocalStores lets an origin write to local stores other than its own:
// their settings name their directory.
func openLocalStores(cfg *Config) {
	cfg.OpenStore = func(ctx context.Context, kind string, settings []byte, baseURL string) (PayloadStore, error) {
		var s struct {
			Dir string `json:"dir"`
		}
		if err := json.Unmarshal(settings, &s); err != nil || kind != stores.KindLocal || s.Dir == "" {
			return nil, fmt.Errorf("not a local store with a dir: %s %s", kind, settings)
		}
		return stores.Open(s.Dir)
	}
}

// addLocalStore registers a local store in a new directory and returns the
// directory.
func (h *harness) addLocalStore(name, columns, values string) string {
	h.t.Helper()
	dir := filepath.Join(h.t.TempDir(), name)
	settings, _ := json.Marshal(map[string]string{"dir": dir})
	q := "INSERT INTO store (name, kind, base_url, settings" + columns + ") VALUES ($1, 'local', 'http://" + name + ".test', $2" + values + ")"
	if _, err := h.db.Exec(h.t.Context(), q, name, settings); err != nil {
		h.t.Fatal(err)
	}
	return dir
}

func (h *harness) exec(q string, args ...any) {
	h.t.Helper()
	if _, err := h.db.Exec(h.t.Context(), q, args...); err != nil {
		h.t.Fatal(err)
	}
}

// locationOf is the name of the store that holds url, and the bytes the
// records say each store holds.
func (h *harness) locationOf(url string) string {
	h.t.Helper()
	var name string
	if err := h.db.QueryRow(h.t.Context(), `SELECT s.name FROM payload_location l JOIN store s ON s.id = l.store_id WHERE l.url = $1`, url).Scan(&name); err != nil {
		h.t.Fatalf("location of %s: %v", url, err)
	}
	return name
}

func (h *harness) usage(name string) (bytes, files int64) {
	h.t.Helper()
	if err := h.db.QueryRow(h.t.Context(), `SELECT u.bytes, u.files FROM store_usage u JOIN store s ON s.id = u.store_id WHERE s.name = $1`, name).Scan(&bytes, &files); err != nil {
		h.t.Fatal(err)
	}
	return bytes, files
}

func fileExists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	return err == nil
}

func TestUpload_LandsInTheHighestUploadPriority(t *testing.T) {
	t.Parallel()
	h := newHarness(t, openLocalStores)
	fast := h.addLocalStore("fast", ", upload_priority", ", 10")
	slow := h.addLocalStore("slow", ", upload_priority", ", 5")
	// Read-only, write-only and draining stores take no uploads, whatever
	// their priority.
	h.addLocalStore("ro", ", upload_priority, read_only", ", 99, true")
	h.addLocalStore("wo", ", upload_priority, write_only", ", 98, true")
	h.addLocalStore("draining", ", upload_priority, drain", ", 97, true")

	n := newNar("first", ".xz")
	h.putNar(n)
	if got := h.locationOf(n.url); got != "fast" {
		t.Fatalf("landed in %s, want fast", got)
	}
	if !fileExists(t, filepath.Join(fast, n.url)) || fileExists(t, filepath.Join(h.cfg.LocalStoreDir, n.url)) {
		t.Fatalf("file not in fast's directory alone")
	}
	if b, f := h.usage("fast"); b != int64(len(n.data)) || f != 1 {
		t.Errorf("fast's usage %d bytes, %d files; want %d, 1", b, f, len(n.data))
	}

	// A store set read-only takes no more: the next lands in the next.
	h.exec(`UPDATE store SET read_only = true WHERE name = 'fast'`)
	m := newNar("second", ".xz")
	h.putNar(m)
	if got := h.locationOf(m.url); got != "slow" || !fileExists(t, filepath.Join(slow, m.url)) {
		t.Fatalf("second landed in %s, want slow", got)
	}
	// An unset priority counts lowest: the local store comes last.
	h.exec(`UPDATE store SET read_only = true WHERE name = 'slow'`)
	o := newNar("third", ".xz")
	h.putNar(o)
	if got := h.locationOf(o.url); got != "local" {
		t.Fatalf("third landed in %s, want local", got)
	}
}

func TestUpload_StoreThisOriginCannotOpenIsPassedOver(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil) // no OpenStore: only the local store is writable
	h.addLocalStore("elsewhere", ", upload_priority", ", 10")
	n := newNar("payload", ".xz")
	h.putNar(n)
	if got := h.locationOf(n.url); got != "local" {
		t.Fatalf("landed in %s, want local", got)
	}
}

func TestUpload_MaxSizeNeverExceededByParallelUploads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, openLocalStores)
	const each, fit, uploads = 1000, 3, 12
	h.addLocalStore("small", ", upload_priority, max_size", fmt.Sprintf(", 10, %d", fit*each+each/2))
	var nars []nar
	for i := range uploads {
		nars = append(nars, newNar(fmt.Sprintf("%04d", i)+strings.Repeat("x", each-4), ".xz"))
	}
	var wg sync.WaitGroup
	errs := make(chan string, uploads)
	for _, n := range nars {
		wg.Go(func() {
			if r := h.do(http.MethodPut, "/"+n.url, n.data); r.status != http.StatusOK {
				errs <- fmt.Sprintf("PUT %s: %d %q", n.url, r.status, r.body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	in := map[string]int{}
	for _, n := range nars {
		in[h.locationOf(n.url)]++
	}
	if in["small"] != fit || in["local"] != uploads-fit {
		t.Errorf("uploads by store %v, want %d in small and the rest in local", in, fit)
	}
	if b, f := h.usage("small"); b != fit*each || f != fit {
		t.Errorf("small's usage %d bytes, %d files; want %d, %d", b, f, fit*each, fit)
	}
	var left int
	if err := h.db.QueryRow(t.Context(), `SELECT count(*) FROM store_reservation`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d reservations left after every upload was recorded", left)
	}
}

func TestUpload_NoRoomIs507AndChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.exec(`UPDATE store SET max_size = 10 WHERE name = 'local'`)
	before := h.snapshot()
	r := h.do(http.MethodPut, "/"+newNar("too big for the store", ".xz").url, []byte("too big for the store"))
	checkError(t, r, http.StatusInsufficientStorage, "no store has room for 21 bytes: local (max_size 10)")
	h.unchanged(before)

	h.exec(`UPDATE store SET max_size = NULL, read_only = true WHERE name = 'local'`)
	r = h.do(http.MethodPut, "/"+newNar("anything", ".xz").url, []byte("anything"))
	checkError(t, r, http.StatusInsufficientStorage, "no store takes uploads")
	h.unchanged(before)
}

func TestUpload_FailedUploadGivesItsRoomBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.exec(`UPDATE store SET max_size = 100 WHERE name = 'local'`)
	n := newNar("these bytes", ".xz")
	r := h.do(http.MethodPut, "/"+n.url, []byte("other bytes"))
	checkError(t, r, http.StatusBadRequest, "does not match")
	var left int
	if err := h.db.QueryRow(t.Context(), `SELECT count(*) FROM store_reservation`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d reservations left by a refused upload", left)
	}
	h.putNar(n)
}

func TestUpload_RoomOfADeadProcessLapses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.exec(`UPDATE store SET max_size = 100 WHERE name = 'local'`)
	// All the room, held by a process that stopped renewing it.
	h.exec(`INSERT INTO store_reservation (store_id, bytes, holder, renewed_at)
		SELECT id, 100, 'origin-gone', now() - $1::interval FROM store WHERE name = 'local'`, 2*placement.ReservationLapse)
	h.putNar(newNar("fits once the dead room lapses", ".xz"))
	var left int
	if err := h.db.QueryRow(t.Context(), `SELECT count(*) FROM store_reservation WHERE holder = 'origin-gone'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("the lapsed reservation is still there")
	}
	// A live one counts: 30 bytes held and 60 reserved leave no room for 11.
	h.exec(`INSERT INTO store_reservation (store_id, bytes, holder) SELECT id, 60, 'origin-alive' FROM store WHERE name = 'local'`)
	r := h.do(http.MethodPut, "/"+newNar("eleven byte", ".xz").url, []byte("eleven byte"))
	checkError(t, r, http.StatusInsufficientStorage, "no store has room for 11 bytes")
}

// An upload the rules send to an S3 bucket lands there, hashed before it is
// recorded, and the origin's own disk stays without it.
func TestUpload_LandsInAnS3Store(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	h := newHarness(t, func(cfg *Config) {
		cfg.OpenStore = func(ctx context.Context, kind string, settings []byte, baseURL string) (PayloadStore, error) {
			s, err := stores.ParseS3Settings(settings)
			if err != nil {
				return nil, err
			}
			return stores.OpenS3(ctx, stores.S3Config{Settings: s, BaseURL: baseURL, Credentials: srv.Credentials()})
		}
	})
	settings, err := json.Marshal(stores.S3Settings{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket, PathStyle: true, Prefix: "cache/"})
	if err != nil {
		t.Fatal(err)
	}
	h.exec(`INSERT INTO store (name, kind, base_url, settings, upload_priority) VALUES ('eu-s3', 's3', '', $1, 10)`, settings)
	n := newNar("bytes for the bucket", ".xz")
	h.putNar(n)
	if got := h.locationOf(n.url); got != "eu-s3" {
		t.Fatalf("landed in %s, want eu-s3", got)
	}
	if fileExists(t, filepath.Join(h.cfg.LocalStoreDir, n.url)) {
		t.Errorf("the file is on the origin's disk too")
	}
	out, err := srv.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("cache/" + n.url)})
	if err != nil {
		t.Fatalf("object in the bucket: %v", err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(n.data) {
		t.Fatalf("bucket holds %q, want %q", got, n.data)
	}
	// Bytes that do not hash to the name never reach the bucket.
	bad := newNar("the named bytes", ".xz")
	r := h.do(http.MethodPut, "/"+bad.url, []byte("other bytes"))
	checkError(t, r, http.StatusBadRequest, "does not match")
	if _, err := srv.Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("cache/" + bad.url)}); err == nil {
		t.Errorf("a refused upload left an object in the bucket")
	}
}
