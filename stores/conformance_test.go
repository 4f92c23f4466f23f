package stores

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/narthex-cache/narthex/internal/s3test"
)

// subject is one kind of store under the conformance suite.
type subject struct {
	st Store
	// raw lists every name the store's backing holds, temporary and
	// unfinished objects included, so that a test can see that a failed
	// Put left nothing behind.
	raw func(t *testing.T) []string
	// plant writes an object behind the store's back, for kinds that
	// cannot be written through it.
	plant func(t *testing.T, key string, body []byte)
	// readOnly kinds run only the read half of the suite.
	readOnly bool
}

// kinds opens a fresh store of every kind for one test.
var kinds = []struct {
	name string
	open func(t *testing.T) subject
}{
	{"local", openLocalSubject},
	{"s3", func(t *testing.T) subject { return openS3Subject(t, "") }},
	{"s3-prefixed", func(t *testing.T) subject { return openS3Subject(t, "cache") }},
	{"http", openMirrorSubject},
}

func openLocalSubject(t *testing.T) subject {
	l, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return subject{
		st:  l,
		raw: func(t *testing.T) []string { return files(t, l.Dir()) },
		plant: func(t *testing.T, key string, body []byte) {
			t.Helper()
			if _, _, err := l.Put(t.Context(), key, bytes.NewReader(body), nil); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// openS3 opens a store of srv's bucket under prefix, with the smallest
// parts S3 allows so that a 5 MiB+ object is a multipart upload.
func openS3(t *testing.T, srv *s3test.Server, prefix string) *S3 {
	t.Helper()
	st, err := OpenS3(t.Context(), S3Config{
		Settings:    S3Settings{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket, Prefix: prefix, PathStyle: true},
		Credentials: srv.Credentials(),
		PartSize:    MinPartSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func openS3Subject(t *testing.T, prefix string) subject {
	srv := s3test.Start(t)
	st := openS3(t, srv, prefix)
	client := srv.Client()
	return subject{
		st: st,
		raw: func(t *testing.T) []string {
			t.Helper()
			var names []string
			pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &srv.Bucket})
			for pages.HasMorePages() {
				page, err := pages.NextPage(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range page.Contents {
					names = append(names, aws.ToString(o.Key))
				}
			}
			ups, err := client.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range ups.Uploads {
				names = append(names, "unfinished upload of "+aws.ToString(u.Key))
			}
			return names
		},
		plant: func(t *testing.T, key string, body []byte) {
			t.Helper()
			if _, _, err := st.Put(t.Context(), key, bytes.NewReader(body), nil); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// openMirrorSubject serves a directory, which the test fills directly, with
// net/http's file server.
func openMirrorSubject(t *testing.T) subject {
	dir := t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	m, err := OpenMirror(MirrorConfig{BaseURL: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	return subject{
		st:  m,
		raw: func(t *testing.T) []string { return files(t, dir) },
		plant: func(t *testing.T, key string, body []byte) {
			t.Helper()
			p := filepath.Join(dir, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, body, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		readOnly: true,
	}
}

// forEachKind runs test against a fresh store of every kind; writes skips
// the kinds that cannot be written.
func forEachKind(t *testing.T, writes bool, test func(t *testing.T, s subject)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := k.open(t)
			if writes && s.readOnly {
				t.Skip("read-only kind")
			}
			test(t, s)
		})
	}
}

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestStore_PutThenRead(t *testing.T) {
	forEachKind(t, true, func(t *testing.T, s subject) {
		ctx := t.Context()
		body := []byte("some nar bytes, long enough to range over")
		const key = "nar/deep/x.nar.xz"
		size, sum, err := s.st.Put(ctx, key, bytes.NewReader(body), digest(body))
		if err != nil {
			t.Fatal(err)
		}
		if size != int64(len(body)) || !bytes.Equal(sum, digest(body)) {
			t.Errorf("Put = %d, %x; want %d, %x", size, sum, len(body), digest(body))
		}
		checkReads(t, s.st, key, body)
	})
}

func TestStore_ReadPlanted(t *testing.T) {
	forEachKind(t, false, func(t *testing.T, s subject) {
		body := []byte("bytes another program wrote")
		const key = "nar/1abc.nar.xz"
		s.plant(t, key, body)
		checkReads(t, s.st, key, body)
	})
}

// checkReads checks every way of reading key against body.
func checkReads(t *testing.T, st Store, key string, body []byte) {
	t.Helper()
	ctx := t.Context()
	size := int64(len(body))
	if n, err := st.Stat(ctx, key); err != nil || n != size {
		t.Errorf("Stat = %d, %v; want %d", n, err, size)
	}
	rc, n, err := st.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, body) || n != size {
		t.Errorf("Open read %q (size %d); want %q", got, n, body)
	}
	if got, n, err := Sum(ctx, st, key); err != nil || !bytes.Equal(got, digest(body)) || n != size {
		t.Errorf("Sum = %x, %d, %v; want %x, %d", got, n, err, digest(body), size)
	}
	ranges := []struct{ off, n int64 }{
		{0, 5}, {3, -1}, {size - 1, 1}, {0, size}, {size, -1}, {size, 0}, {2, 0},
	}
	for _, r := range ranges {
		rc, total, err := st.OpenRange(ctx, key, r.off, r.n)
		if err != nil {
			t.Errorf("OpenRange(%d, %d) = %v", r.off, r.n, err)
			continue
		}
		end := size
		if r.n >= 0 {
			end = r.off + r.n
		}
		if got := readAll(t, rc); !bytes.Equal(got, body[r.off:end]) || total != size {
			t.Errorf("OpenRange(%d, %d) read %q of %d; want %q of %d", r.off, r.n, got, total, body[r.off:end], size)
		}
	}
	for _, r := range []struct{ off, n int64 }{{size - 2, 5}, {size + 1, -1}, {size + 1, 0}, {-1, 2}} {
		if rc, _, err := st.OpenRange(ctx, key, r.off, r.n); !errors.Is(err, ErrRangeNotSatisfiable) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("OpenRange(%d, %d) of %d bytes = %v, want ErrRangeNotSatisfiable", r.off, r.n, size, err)
		}
	}
}

func TestStore_DigestMismatchLeavesNothing(t *testing.T) {
	for _, n := range []int{100, MinPartSize + 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			forEachKind(t, true, func(t *testing.T, s subject) {
				ctx := t.Context()
				old := []byte("old content")
				s.plant(t, "nar/kept.nar", old)
				before := s.raw(t)
				body := randomBytes(n)
				wrong := digest([]byte("something else"))
				for _, key := range []string{"nar/new.nar", "nar/kept.nar"} {
					size, sum, err := s.st.Put(ctx, key, bytes.NewReader(body), wrong)
					if !errors.Is(err, ErrDigestMismatch) {
						t.Fatalf("Put(%s) = %v, want ErrDigestMismatch", key, err)
					}
					if size != int64(n) || !bytes.Equal(sum, digest(body)) {
						t.Errorf("Put(%s) = %d, %x; want the size and digest of what was read", key, size, sum)
					}
				}
				if diff := cmp.Diff(before, s.raw(t)); diff != "" {
					t.Errorf("objects after failed Puts (-before +after):\n%s", diff)
				}
				checkReads(t, s.st, "nar/kept.nar", old)
				if _, err := s.st.Stat(ctx, "nar/new.nar"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Stat of the refused object = %v, want fs.ErrNotExist", err)
				}
			})
		})
	}
}

func TestStore_OverwriteSameBytes(t *testing.T) {
	forEachKind(t, true, func(t *testing.T, s subject) {
		body := []byte("the same bytes twice")
		const key = "nar/same.nar"
		for range 2 {
			if _, _, err := s.st.Put(t.Context(), key, bytes.NewReader(body), digest(body)); err != nil {
				t.Fatal(err)
			}
		}
		checkReads(t, s.st, key, body)
		var keys []string
		if err := s.st.Walk(t.Context(), "", func(key string, size int64) error {
			keys = append(keys, key)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{key}, keys); diff != "" {
			t.Errorf("Walk (-want +got):\n%s", diff)
		}
	})
}

func TestStore_Absent(t *testing.T) {
	forEachKind(t, false, func(t *testing.T, s subject) {
		ctx := t.Context()
		const key = "nar/absent.nar"
		if _, err := s.st.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat = %v, want fs.ErrNotExist", err)
		}
		if _, _, err := s.st.Open(ctx, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open = %v, want fs.ErrNotExist", err)
		}
		for _, r := range []struct{ off, n int64 }{{0, 10}, {0, -1}, {0, 0}} {
			if _, _, err := s.st.OpenRange(ctx, key, r.off, r.n); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("OpenRange(%d, %d) = %v, want fs.ErrNotExist", r.off, r.n, err)
			}
		}
		if _, _, err := Sum(ctx, s.st, key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Sum = %v, want fs.ErrNotExist", err)
		}
		if s.readOnly {
			return
		}
		if err := s.st.Delete(ctx, key); err != nil {
			t.Errorf("Delete of an absent object = %v, want nil", err)
		}
	})
}

func TestStore_Delete(t *testing.T) {
	forEachKind(t, true, func(t *testing.T, s subject) {
		ctx := t.Context()
		const key = "nar/gone.nar"
		s.plant(t, key, []byte("x"))
		for range 2 {
			if err := s.st.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, err := s.st.Stat(ctx, key); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat after Delete = %v, want fs.ErrNotExist", err)
			}
		}
		if got := s.raw(t); len(got) != 0 {
			t.Errorf("objects left = %q", got)
		}
	})
}

func TestStore_Walk(t *testing.T) {
	forEachKind(t, true, func(t *testing.T, s subject) {
		ctx := t.Context()
		type entry struct {
			Key  string
			Size int64
		}
		walk := func(prefix string) []entry {
			t.Helper()
			var got []entry
			err := s.st.Walk(ctx, prefix, func(key string, size int64) error {
				got = append(got, entry{key, size})
				return nil
			})
			if err != nil {
				t.Fatalf("Walk(%q) = %v", prefix, err)
			}
			slices.SortFunc(got, func(a, b entry) int { return strings.Compare(a.Key, b.Key) })
			return got
		}
		if got := walk("nar"); len(got) != 0 {
			t.Errorf("Walk of an empty store = %v", got)
		}
		for _, key := range []string{"nar/b.nar", "nar/a.nar.xz", "nar/sub/c", "narx/y", "log/x"} {
			s.plant(t, key, []byte(key))
		}
		// An interrupted Put and another tool's hidden file are not
		// objects.
		if _, _, err := s.st.Put(ctx, "nar/broken.nar", &failingReader{data: []byte("partial"), err: errors.New("connection reset")}, nil); err == nil {
			t.Fatal("Put of a failing reader succeeded")
		}
		switch st := s.st.(type) {
		case *Local:
			if err := os.WriteFile(filepath.Join(st.Dir(), "nar", ".tmp-123"), []byte("partial"), 0o644); err != nil {
				t.Fatal(err)
			}
		case *S3:
			if _, err := st.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &st.bucket, Key: aws.String(st.prefix + "nar/.tmp-123"), Body: strings.NewReader("partial")}); err != nil {
				t.Fatal(err)
			}
		}
		want := []entry{{"nar/a.nar.xz", 12}, {"nar/b.nar", 9}, {"nar/sub/c", 9}}
		if diff := cmp.Diff(want, walk("nar")); diff != "" {
			t.Errorf("Walk(nar) (-want +got):\n%s", diff)
		}
		want = []entry{{"log/x", 5}, {"nar/a.nar.xz", 12}, {"nar/b.nar", 9}, {"nar/sub/c", 9}, {"narx/y", 6}}
		if diff := cmp.Diff(want, walk("")); diff != "" {
			t.Errorf("Walk of all (-want +got):\n%s", diff)
		}
		if err := s.st.Walk(ctx, "../x", func(string, int64) error { return nil }); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Walk with an invalid prefix = %v, want ErrInvalidKey", err)
		}
		stop := errors.New("stop")
		if err := s.st.Walk(ctx, "", func(string, int64) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("Walk = %v, want fn's error", err)
		}
	})
}

func TestStore_InvalidKeys(t *testing.T) {
	forEachKind(t, false, func(t *testing.T, s subject) {
		ctx := t.Context()
		before := s.raw(t)
		for _, key := range []string{"../escape", "/etc/passwd", "nar/../../escape", "", "nar/.tmp-1", `nar\x`} {
			if !s.readOnly {
				if _, _, err := s.st.Put(ctx, key, strings.NewReader("x"), nil); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
				}
				if err := s.st.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
					t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
				}
			}
			if _, _, err := s.st.Open(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, _, err := s.st.OpenRange(ctx, key, 0, 1); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("OpenRange(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.st.Stat(ctx, key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
		if diff := cmp.Diff(before, s.raw(t)); diff != "" {
			t.Errorf("objects (-before +after):\n%s", diff)
		}
	})
}

func TestStore_LargeObject(t *testing.T) {
	// Exactly one part, and two and a bit parts, of an S3 store opened
	// with MinPartSize.
	for _, n := range []int{MinPartSize, 2*MinPartSize + 12345} {
		body := randomBytes(n)
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			forEachKind(t, true, func(t *testing.T, s subject) {
				checkLargeObject(t, s, body)
			})
		})
	}
}

func checkLargeObject(t *testing.T, s subject, body []byte) {
	const key = "nar/large.nar"
	size, sum, err := s.st.Put(t.Context(), key, bytes.NewReader(body), digest(body))
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(body)) || !bytes.Equal(sum, digest(body)) {
		t.Errorf("Put = %d, %x; want %d, %x", size, sum, len(body), digest(body))
	}
	rc, n, err := s.st.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, body) || n != int64(len(body)) {
		t.Errorf("read back %d bytes (size %d), not the %d put", len(got), n, len(body))
	}
	off := int64(MinPartSize - 10)
	end := min(off+20, int64(len(body)))
	rc, _, err = s.st.OpenRange(t.Context(), key, off, end-off)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, rc); !bytes.Equal(got, body[off:end]) {
		t.Errorf("range across a part boundary = %x, want %x", got, body[off:end])
	}
	if diff := cmp.Diff([]string{key}, stripPrefix(s.raw(t))); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if st, ok := s.st.(*S3); ok {
		// A multipart object's ETag ends in the number of its parts.
		head, err := st.client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &st.bucket, Key: st.object(key)})
		if err != nil {
			t.Fatal(err)
		}
		parts := (len(body) + MinPartSize - 1) / MinPartSize
		if etag := strings.Trim(aws.ToString(head.ETag), `"`); !strings.HasSuffix(etag, "-"+strconv.Itoa(parts)) {
			t.Errorf("ETag %s is not that of a %d-part upload", etag, parts)
		}
	}
}

func TestStore_EmptyObject(t *testing.T) {
	forEachKind(t, false, func(t *testing.T, s subject) {
		ctx := t.Context()
		const key = "nar/empty.nar"
		if s.readOnly {
			s.plant(t, key, nil)
		} else if _, _, err := s.st.Put(ctx, key, bytes.NewReader(nil), digest(nil)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.st.Stat(ctx, key); err != nil || n != 0 {
			t.Errorf("Stat = %d, %v; want 0", n, err)
		}
		for _, r := range []struct{ off, n int64 }{{0, -1}, {0, 0}} {
			rc, size, err := s.st.OpenRange(ctx, key, r.off, r.n)
			if err != nil {
				t.Errorf("OpenRange(%d, %d) = %v", r.off, r.n, err)
				continue
			}
			if got := readAll(t, rc); len(got) != 0 || size != 0 {
				t.Errorf("OpenRange(%d, %d) read %q of %d, want nothing of 0", r.off, r.n, got, size)
			}
		}
		if _, _, err := s.st.OpenRange(ctx, key, 0, 1); !errors.Is(err, ErrRangeNotSatisfiable) {
			t.Errorf("OpenRange(0, 1) = %v, want ErrRangeNotSatisfiable", err)
		}
		if got, n, err := Sum(ctx, s.st, key); err != nil || n != 0 || !bytes.Equal(got, digest(nil)) {
			t.Errorf("Sum = %x, %d, %v; want the digest of nothing", got, n, err)
		}
	})
}

// stripPrefix drops a bucket prefix ("cache/") from raw names.
func stripPrefix(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimPrefix(n, "cache/")
	}
	return out
}

// cancellingReader cancels its context after giving after bytes, and then
// keeps giving bytes, as a client that is still sending when its upload is
// called off.
type cancellingReader struct {
	r      io.Reader
	after  int
	cancel context.CancelFunc
	read   int
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	if c.read >= c.after {
		c.cancel()
	}
	return n, err
}

func TestStore_InterruptedPutLeavesNothing(t *testing.T) {
	errBroken := errors.New("connection reset")
	for _, size := range []int{1000, 3 * MinPartSize} {
		t.Run(strconv.Itoa(size)+"/cancelled", func(t *testing.T) {
			forEachKind(t, true, func(t *testing.T, s subject) {
				body := randomBytes(size)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				r := &cancellingReader{r: bytes.NewReader(body), after: size / 2, cancel: cancel}
				if _, _, err := s.st.Put(ctx, "nar/cancelled.nar", r, digest(body)); !errors.Is(err, context.Canceled) {
					t.Errorf("Put = %v, want context.Canceled", err)
				}
				if got := s.raw(t); len(got) != 0 {
					t.Errorf("objects after a cancelled Put = %q", got)
				}
			})
		})
		t.Run(strconv.Itoa(size)+"/reader-fails", func(t *testing.T) {
			forEachKind(t, true, func(t *testing.T, s subject) {
				r := &failingReader{data: randomBytes(size), err: errBroken}
				if _, _, err := s.st.Put(t.Context(), "nar/broken.nar", r, nil); !errors.Is(err, errBroken) {
					t.Errorf("Put = %v, want the reader's error", err)
				}
				if got := s.raw(t); len(got) != 0 {
					t.Errorf("objects after a failed Put = %q", got)
				}
			})
		})
	}
}

func TestStore_ConcurrentPuts(t *testing.T) {
	forEachKind(t, true, func(t *testing.T, s subject) {
		const key = "nar/same.nar"
		bodies := make([][]byte, 4)
		for i := range bodies {
			bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 1<<16)
		}
		var wg sync.WaitGroup
		for _, b := range bodies {
			wg.Go(func() {
				if _, _, err := s.st.Put(t.Context(), key, bytes.NewReader(b), digest(b)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, n, err := Sum(t.Context(), s.st, key)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1<<16 || !slices.ContainsFunc(bodies, func(b []byte) bool { return bytes.Equal(digest(b), got) }) {
			t.Errorf("object is not one of the bodies put (%d bytes)", n)
		}
		if diff := cmp.Diff([]string{key}, stripPrefix(s.raw(t))); diff != "" {
			t.Errorf("objects (-want +got):\n%s", diff)
		}
	})
}

func TestStore_ReadOnlyRefusesWrites(t *testing.T) {
	s := openMirrorSubject(t)
	ctx := t.Context()
	s.plant(t, "nar/x.nar", []byte("x"))
	if _, _, err := s.st.Put(ctx, "nar/y.nar", strings.NewReader("y"), nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Put = %v, want ErrReadOnly", err)
	}
	if err := s.st.Delete(ctx, "nar/x.nar"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Delete = %v, want ErrReadOnly", err)
	}
	if err := s.st.Walk(ctx, "nar", func(string, int64) error { return nil }); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Walk = %v, want errors.ErrUnsupported", err)
	}
	if diff := cmp.Diff([]string{"nar/x.nar"}, s.raw(t)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}
