package stores

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/narthex-cache/narthex/internal/s3test"
)

func httpGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestS3_PresignGet(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	st := openS3(t, srv, "cache")
	body := []byte("a private nar")
	const key = "nar/private.nar.xz"
	if _, _, err := st.Put(t.Context(), key, bytes.NewReader(body), digest(body)); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.URL(key); ok {
		t.Error("a store without a base URL has public URLs")
	}

	signed, err := st.PresignGet(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if code, got := httpGet(t, signed); code != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("GET of the presigned URL = %d %q, want 200 %q", code, got, body)
	}
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query().Get("X-Amz-Expires"); got != "900" {
		t.Errorf("presigned URL expires after %q seconds, want 900 (DefaultPresignExpiry)", got)
	}
	u.RawQuery = ""
	if code, got := httpGet(t, u.String()); code != http.StatusForbidden {
		t.Errorf("unsigned GET %s = %d %q, want 403", u, code, got)
	}

	// An edge's Presigner, from the replicated settings and credentials
	// of its own, signs the same object.
	p, err := NewPresigner(t.Context(), S3Settings{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket, Prefix: "cache/", PathStyle: true, PresignExpiry: "2m",
	}, srv.Credentials())
	if err != nil {
		t.Fatal(err)
	}
	signed, err = p.PresignGet(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if code, got := httpGet(t, signed); code != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("GET of the Presigner's URL = %d %q, want 200 %q", code, got, body)
	}
	if u, _ := url.Parse(signed); u.Query().Get("X-Amz-Expires") != "120" {
		t.Errorf("Presigner's URL %s does not expire after 120 s", signed)
	}
	if _, err := p.PresignGet(t.Context(), "../x"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("PresignGet(../x) = %v, want ErrInvalidKey", err)
	}

	// Signed with a wrong secret, the URL is refused.
	bad, err := NewPresigner(t.Context(), S3Settings{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket, Prefix: "cache/", PathStyle: true,
	}, credentials.NewStaticCredentialsProvider(srv.AccessKey, "not-the-secret", ""))
	if err != nil {
		t.Fatal(err)
	}
	signed, err = bad.PresignGet(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := httpGet(t, signed); code != http.StatusForbidden {
		t.Errorf("GET of a URL signed with a wrong secret = %d, want 403", code)
	}
}

func TestPresigner_NoNetwork(t *testing.T) {
	// The .invalid domain never resolves: presigning must not try to reach
	// it.
	p, err := NewPresigner(t.Context(), S3Settings{Endpoint: "http://s3.invalid:1", Region: "eu-central-1", Bucket: "nars"},
		credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := p.PresignGet(t.Context(), "nar/x.nar.xz")
	if err != nil {
		t.Fatal(err)
	}
	// Virtual-host addressing puts the bucket in the host name.
	if !strings.HasPrefix(signed, "http://nars.s3.invalid:1/nar/x.nar.xz?") {
		t.Errorf("presigned URL = %s", signed)
	}
	if _, err := NewPresigner(t.Context(), S3Settings{Endpoint: "ftp://x", Region: "r", Bucket: "nars"}, nil); err == nil || !strings.Contains(err.Error(), "endpoint") {
		t.Errorf("NewPresigner with an ftp endpoint = %v, want an error naming the endpoint", err)
	}
}

func BenchmarkPresigner_PresignGet(b *testing.B) {
	p, err := NewPresigner(b.Context(), S3Settings{Endpoint: "https://s3.eu-central-1.amazonaws.com", Region: "eu-central-1", Bucket: "nars"},
		credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.PresignGet(b.Context(), "nar/0mbp0hbwv1pz0wz4f3lbbgq6igbwjvghi8xkd0ql3ydyhnm5bdbb.nar.xz"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestS3_URL(t *testing.T) {
	st, err := OpenS3(t.Context(), S3Config{
		Settings: S3Settings{Endpoint: "http://127.0.0.1:1", Region: "r", Bucket: "nars"},
		BaseURL:  "https://nars.example/cache/",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := st.URL("nar/x.nar.xz"); !ok || got != "https://nars.example/cache/nar/x.nar.xz" {
		t.Errorf("URL = %q, %v", got, ok)
	}
}

func TestS3_WrongCredentials(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	good := openS3(t, srv, "")
	body := []byte("x")
	if _, _, err := good.Put(t.Context(), "nar/x.nar", bytes.NewReader(body), nil); err != nil {
		t.Fatal(err)
	}
	for name, creds := range map[string]aws.CredentialsProvider{
		"wrong secret": credentials.NewStaticCredentialsProvider(srv.AccessKey, "not-the-secret", ""),
		"unknown key":  credentials.NewStaticCredentialsProvider("AKUNKNOWN", srv.SecretKey, ""),
		"both wrong":   credentials.NewStaticCredentialsProvider("AKUNKNOWN", "not-the-secret", ""),
	} {
		t.Run(name, func(t *testing.T) {
			st, err := OpenS3(t.Context(), S3Config{
				Settings:    S3Settings{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket, PathStyle: true},
				Credentials: creds,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = st.Stat(t.Context(), "nar/x.nar")
			checkDenied(t, "Stat", err)
			_, _, err = st.Open(t.Context(), "nar/x.nar")
			checkDenied(t, "Open", err)
			_, _, err = st.Put(t.Context(), "nar/y.nar", bytes.NewReader(body), nil)
			checkDenied(t, "Put", err)
			err = st.Walk(t.Context(), "", func(string, int64) error { return nil })
			checkDenied(t, "Walk", err)
			if _, err := good.Stat(t.Context(), "nar/y.nar"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat of the refused Put's key = %v, want fs.ErrNotExist", err)
			}
		})
	}
}

func checkDenied(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, ErrAccessDenied) {
		t.Errorf("%s = %v, want ErrAccessDenied", op, err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s = %v, which says the object is missing", op, err)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("%s = %v, want the service's error in the chain", op, err)
	}
}

// TestS3_ChecksumRefused shows that versitygw checks x-amz-checksum-sha256,
// on which Put relies against bytes damaged in transit.
func TestS3_ChecksumRefused(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	client := srv.Client()
	other := sha256.Sum256([]byte("other bytes"))
	_, err := client.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket:         &srv.Bucket,
		Key:            aws.String("nar/x.nar"),
		Body:           strings.NewReader("the bytes"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(other[:])),
	})
	if err == nil {
		t.Fatal("PutObject with a wrong checksum succeeded")
	}
	st := openS3(t, srv, "")
	if _, err := st.Stat(t.Context(), "nar/x.nar"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat after a refused PutObject = %v, want fs.ErrNotExist", err)
	}
}

// TestS3_DefaultCredentials opens s3 stores as OpenKind does, with the
// SDK's default chain: the environment, then a profile of the shared files.
func TestS3_DefaultCredentials(t *testing.T) {
	srv := s3test.Start(t)
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "credentials")
	if err := os.WriteFile(credsFile, []byte("[narthex]\naws_access_key_id = "+srv.AccessKey+"\naws_secret_access_key = "+srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, env := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(env, "")
		os.Unsetenv(env)
	}
	settings := `{"endpoint": "` + srv.Endpoint + `", "region": "` + srv.Region + `", "bucket": "` + srv.Bucket + `", "path_style": true%s}`
	body := []byte("x")

	put := func(t *testing.T, profile string) error {
		t.Helper()
		st, err := OpenKind(t.Context(), KindS3, []byte(strings.Replace(settings, "%s", profile, 1)), "", "")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = st.Put(t.Context(), "nar/x.nar", bytes.NewReader(body), nil)
		return err
	}
	if err := put(t, `, "profile": "narthex"`); err != nil {
		t.Errorf("Put with the profile's credentials = %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	if err := put(t, ""); err != nil {
		t.Errorf("Put with the environment's credentials = %v", err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	if err := put(t, ""); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Put with a wrong secret in the environment = %v, want ErrAccessDenied", err)
	}
}

func TestS3Config_Validate(t *testing.T) {
	good := S3Settings{Endpoint: "http://127.0.0.1:9000", Region: "r", Bucket: "nars"}
	tests := []struct {
		cfg  S3Config
		want string
	}{
		{S3Config{Settings: S3Settings{Region: "r", Bucket: "nars"}}, "endpoint"},
		{S3Config{Settings: S3Settings{Endpoint: "http://x", Region: "r", Bucket: "N"}}, `bucket "N"`},
		{S3Config{Settings: good, BaseURL: "ftp://x"}, `base URL "ftp://x"`},
		{S3Config{Settings: good, PartSize: 1 << 20}, "part size"},
		{S3Config{Settings: good, PartConcurrency: -1}, "part concurrency"},
	}
	for _, tt := range tests {
		_, err := OpenS3(t.Context(), tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("OpenS3(%+v) = %v, want an error naming %s", tt.cfg, err, tt.want)
		}
	}
}

func TestS3_VirtualHost(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	client := srv.HTTPClient()
	st, err := OpenS3(t.Context(), S3Config{
		Settings:    S3Settings{Endpoint: srv.VirtualHostEndpoint(), Region: srv.Region, Bucket: srv.Bucket, Prefix: "cache/"},
		Credentials: srv.Credentials(),
		HTTPClient:  client,
		PartSize:    MinPartSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	body := randomBytes(MinPartSize + 100)
	const key = "nar/virtual.nar"
	if _, _, err := st.Put(t.Context(), key, bytes.NewReader(body), digest(body)); err != nil {
		t.Fatal(err)
	}
	checkReads(t, st, key, body)
	// The object is where a path-style client finds it.
	if n, err := openS3(t, srv, "cache").Stat(t.Context(), key); err != nil || n != int64(len(body)) {
		t.Errorf("path-style Stat = %d, %v; want %d", n, err, len(body))
	}
	var keys []string
	if err := st.Walk(t.Context(), "nar", func(key string, size int64) error { keys = append(keys, key); return nil }); err != nil || len(keys) != 1 || keys[0] != key {
		t.Errorf("Walk = %q, %v; want [%s]", keys, err, key)
	}

	signed, err := st.PresignGet(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(signed, "http://"+srv.Bucket+"."+s3test.VirtualDomain+":") {
		t.Errorf("presigned URL %s does not name the bucket in its host", signed)
	}
	resp, err := client.Get(signed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Errorf("GET of the presigned URL = %s, %d bytes, %v", resp.Status, len(got), err)
	}
}

func TestS3_RemoveTemp(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	ctx := t.Context()
	client := srv.Client()
	start := func(key string, partBytes int) {
		t.Helper()
		up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &srv.Bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if partBytes > 0 {
			_, err := client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: &srv.Bucket, Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(1),
				Body: bytes.NewReader(make([]byte, partBytes)),
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	start("cache/nar/crashed.nar", 1000)
	start("other/nar/not-ours.nar", 10)
	st := openS3(t, srv, "cache")
	body := []byte("an object that stays")
	if _, _, err := st.Put(ctx, "nar/kept.nar", bytes.NewReader(body), nil); err != nil {
		t.Fatal(err)
	}

	// Uploads started after the bound are left alone.
	removed, err := st.RemoveTemp(ctx, time.Now().Add(-time.Hour))
	if err != nil || len(removed) != 0 {
		t.Fatalf("RemoveTemp before any upload started = %v, %v; want none", removed, err)
	}
	removed, err = st.RemoveTemp(ctx, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Path != "nar/crashed.nar" || removed[0].Size != 1000 {
		t.Errorf("removed %+v, want nar/crashed.nar of 1000 bytes", removed)
	}
	ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &srv.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].Key) != "other/nar/not-ours.nar" {
		t.Errorf("uploads left: %d, want only the one outside the prefix", len(ups.Uploads))
	}
	checkReads(t, st, "nar/kept.nar", body)
}
