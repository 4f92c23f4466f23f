// Package s3test gives tests a real S3 service: versitygw with its posix
// backend, started per test on a free loopback port with generated keys and
// one bucket, and stopped when the test ends.
//
// versitygw is built from its Go module, pinned in the nested module
// ./versitygw so that its dependencies never move narthex's own, once per
// test binary and cached under the user's cache directory by the hash of
// that module's go.mod and go.sum, so repeated runs do not rebuild it.
// Without a Go toolchain or the module (no network on a first run), or
// when the server does not start, the tests that need it fail under CI (the
// CI environment variable is set) and skip elsewhere, saying why. It must
// never be imported by non-test code.
//
//	srv := s3test.Start(t)
//	st, err := stores.OpenS3(ctx, stores.S3Config{
//		Settings: stores.S3Settings{
//			Endpoint: srv.Endpoint, Region: srv.Region,
//			Bucket: srv.Bucket, PathStyle: true,
//		},
//		Credentials: srv.Credentials(),
//	})
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Region is the region every server answers for.
const Region = "us-east-1"

// VirtualDomain is the domain under which a server also takes buckets as
// host names (<bucket>.s3test.test:<port>), as AWS addresses them. Nothing
// resolves it: HTTPClient's connections reach the server whatever the host.
const VirtualDomain = "s3test.test"

// startTimeout bounds the wait for a started server to answer, generous
// for a busy machine.
const startTimeout = time.Minute

// Server is a running versitygw with one bucket.
type Server struct {
	Endpoint  string // http://127.0.0.1:<port>
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	Dir       string // the posix backend's root; Dir/<bucket>/<object>
	addr      string // 127.0.0.1:<port>
}

// VirtualHostEndpoint is the endpoint for virtual-host addressing, to be
// used with HTTPClient.
func (s *Server) VirtualHostEndpoint() string {
	_, port, _ := net.SplitHostPort(s.addr)
	return "http://" + net.JoinHostPort(VirtualDomain, port)
}

// HTTPClient returns a client whose every connection goes to the server,
// so that <bucket>.s3test.test reaches it without a name server.
func (s *Server) HTTPClient() *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, s.addr)
		},
	}}
}

// Credentials returns the server's root credentials.
func (s *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
}

// Client returns an S3 client of the server with its root credentials, for
// tests that look under a store.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		Credentials:  s.Credentials(),
		UsePathStyle: true,
	})
}

// CreateBucket creates another bucket on the server.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
}

// Start starts a server for t with a bucket named "nars", and stops it when
// t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		unavailable(t, err)
	}
	dir := t.TempDir()
	s := &Server{
		Region:    Region,
		Bucket:    "nars",
		AccessKey: "AK" + strings.ToUpper(randomHex(9)),
		SecretKey: randomHex(20),
		Dir:       filepath.Join(dir, "root"),
	}
	// The port is free when picked but may be taken before versitygw binds
	// it; another port then does.
	for attempt := 1; ; attempt++ {
		err = s.start(t, bin, dir)
		if err == nil {
			break
		}
		if attempt == 3 {
			unavailable(t, err)
		}
	}
	s.CreateBucket(t, s.Bucket)
	return s
}

// start runs versitygw on a free port and waits until it answers.
func (s *Server) start(t testing.TB, bin, dir string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	sidecar := filepath.Join(dir, "meta")
	for _, d := range []string{s.Dir, sidecar} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var out bytes.Buffer
	cmd := exec.Command(bin,
		"--port", addr,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", s.Region,
		"--quiet",
		"--virtual-domain", VirtualDomain,
		// Metadata in files beside the root, so that the backend works on
		// file systems without user extended attributes.
		"posix", "--sidecar", sidecar, s.Dir)
	cmd.Stdout = &syncWriter{w: &out}
	cmd.Stderr = cmd.Stdout
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	s.Endpoint = "http://" + addr
	s.addr = addr
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited before answering (%v): %s", err, cmd.Stdout.(*syncWriter).String())
		default:
		}
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("versitygw did not answer on %s within %s: %s", addr, startTimeout, cmd.Stdout.(*syncWriter).String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(stop)
	return nil
}

// unavailable ends a test that cannot have its server: a failure under CI,
// a skip elsewhere.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("s3test: versitygw is required under CI: %v", err)
	}
	t.Skipf("s3test: skipping off CI: %v", err)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// built is the versitygw binary of this test binary's run.
var built struct {
	once sync.Once
	path string
	err  error
}

// binary returns the path of the versitygw binary, building it when the
// cache does not hold the one the nested module pins.
func binary() (string, error) {
	built.once.Do(func() { built.path, built.err = build() })
	return built.path, built.err
}

func build() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot find the s3test source directory")
	}
	modDir := filepath.Join(filepath.Dir(self), "versitygw")
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(modDir, name))
		if err != nil {
			return "", fmt.Errorf("read versitygw module: %w", err)
		}
		h.Write(b)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	fmt.Fprintf(h, "%s %s %s", runtime.GOOS, runtime.GOARCH, runtime.Version())
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "narthex-s3test", hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, "versitygw")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-versitygw-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", tmp.Name(), "github.com/versity/versitygw/cmd/versitygw")
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build versitygw: %w: %s", err, bytes.TrimSpace(out))
	}
	// Test binaries of several packages may build at once; each renames a
	// complete binary into place.
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// syncWriter collects a process's output, which its goroutines write while
// a failing start reads it.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.String()
}
