package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/s3test"
)

// narthexEnv is narthex with more environment, for credentials that only
// the environment gives.
func narthexEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "NARTHEX_TEST_AS_MAIN=1"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("narthex %s: %v", strings.Join(args, " "), err)
		}
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// An s3 store is recorded only once a probe object went in and out of its
// bucket with the credentials the process has; an http store only when it
// serves a binary cache.
func TestStores_AddS3AndHTTP(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	db := pgtest.NewOriginDatabase(t)
	conn := pgtest.Connect(t, db)
	creds := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent"}
	addS3 := func(name, endpoint string) []string {
		return []string{"stores", "add", name, "--kind", "s3", "--endpoint", endpoint, "--region", srv.Region,
			"--bucket", srv.Bucket, "--path-style", "--lat", "50.1", "--lon", "8.7", "--download-priority", "80",
			"--database-url", db}
	}

	before := storeRows(t, conn)
	// A dead endpoint: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	wrong := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=not-the-secret",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_CONFIG_FILE=/nonexistent"}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"wrong secret", wrong, addS3("eu-s3", srv.Endpoint), "eu-s3"},
		{"dead endpoint", creds, addS3("eu-s3", dead), "eu-s3"},
	} {
		out, errOut, code := narthexEnv(t, tc.env, tc.args...)
		t.Logf("%s: %s", tc.name, errOut)
		if code == 0 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want a one-line error naming %q", tc.name, code, out, errOut, tc.want)
		}
		if after := storeRows(t, conn); after != before {
			t.Errorf("%s changed the registry:\n%s\n-- after --\n%s", tc.name, before, after)
		}
	}

	if _, errOut, code := narthexEnv(t, creds, addS3("eu-s3", srv.Endpoint)...); code != 0 {
		t.Fatalf("add eu-s3: exit %d: %s", code, errOut)
	}
	s := storeRow(t, db, "eu-s3")
	if s.Kind != "s3" || s.Latitude == nil || *s.Latitude != 50.1 || s.DownloadPriority == nil || *s.DownloadPriority != 80 {
		t.Errorf("eu-s3 recorded as %+v", s)
	}
	if strings.Contains(string(s.Settings), srv.SecretKey) || strings.Contains(string(s.Settings), srv.AccessKey) {
		t.Errorf("settings %s hold a credential", s.Settings)
	}
	// The probe left nothing in the bucket.
	objs, err := srv.Client().ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Contents) != 0 {
		t.Errorf("bucket holds %d objects after the probe, want none", len(objs.Contents))
	}

	// An http mirror must be a binary cache.
	cache := t.TempDir()
	notCache := httptest.NewServer(http.FileServer(http.Dir(t.TempDir())))
	defer notCache.Close()
	before = storeRows(t, conn)
	if out, errOut, code := narthex(t, "stores", "add", "mirror", "--kind", "http", "--base-url", notCache.URL, "--database-url", db); code == 0 ||
		!strings.Contains(errOut, "not a binary cache") {
		t.Errorf("http store without nix-cache-info: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if after := storeRows(t, conn); after != before {
		t.Errorf("a refused http store changed the registry")
	}
	if err := os.WriteFile(filepath.Join(cache, "nix-cache-info"), []byte("StoreDir: /nix/store\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mirror := httptest.NewServer(http.FileServer(http.Dir(cache)))
	defer mirror.Close()
	if _, errOut, code := narthex(t, "stores", "add", "mirror", "--kind", "http", "--base-url", mirror.URL, "--read-only", "--database-url", db); code != 0 {
		t.Fatalf("add mirror: exit %d: %s", code, errOut)
	}
	if m := storeRow(t, db, "mirror"); m.Kind != "http" || m.BaseURL != mirror.URL {
		t.Errorf("mirror recorded as %+v", m)
	}
}
