package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/narthex-cache/narthex/internal/pgtest"
	"github.com/narthex-cache/narthex/internal/testutil"
	"github.com/nix-community/go-nix/pkg/nixbase32"
)

// The test binary doubles as the narthex binary: with NARTHEX_TEST_AS_MAIN
// set it runs main, so tests start real narthex processes without a build.
func TestMain(m *testing.M) {
	if os.Getenv("NARTHEX_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	pgtest.Main(m)
}

// proc is a narthex process started by a test.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout []string
	stderr strings.Builder
	lines  chan string
	exited chan struct{}
}

// startNarthex runs "narthex args..." and stops it (SIGINT) at cleanup.
func startNarthex(t *testing.T, args ...string) *proc {
	t.Helper()
	return startNarthexEnv(t, nil, args...)
}

// startNarthexEnv is startNarthex with more environment.
func startNarthexEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "NARTHEX_TEST_AS_MAIN=1"), env...)
	return startProc(t, cmd, args[0])
}

// startProc runs cmd, a narthex process set up as startNarthexEnv sets it
// up (perhaps behind a program that becomes it, such as ip netns exec),
// and stops it (SIGINT) at cleanup; role names it in the test's log.
func startProc(t *testing.T, cmd *exec.Cmd, role string) *proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100), exited: make(chan struct{})}
	cmd.Stderr = (*procStderr)(p)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout = append(p.stdout, sc.Text())
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		wg.Wait()
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("narthex %s stderr:\n%s", role, p.logs())
		}
	})
	return p
}

// procStderr collects a process's standard error as it is written.
type procStderr proc

func (w *procStderr) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.Write(b)
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// waitLine waits for a line of standard output equal to want.
func (p *proc) waitLine(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-p.lines:
			if l == want {
				return
			}
		case <-p.exited:
			t.Fatalf("narthex exited before printing %q:\n%s", want, p.logs())
		case <-deadline:
			t.Fatalf("narthex did not print %q within %s:\n%s", want, timeout, p.logs())
		}
	}
}

// waitLog waits for the process to log a line containing want.
func (p *proc) waitLog(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.logs(), want) {
		select {
		case <-p.exited:
			t.Fatalf("narthex exited before logging %q:\n%s", want, p.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("narthex did not log %q within %s:\n%s", want, timeout, p.logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop ends the process with SIGINT, as Ctrl-C does, and waits for it.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("narthex did not stop within 20s of SIGINT")
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// freePorts finds a base port with n consecutive free ports on 127.0.0.1,
// below the kernel's ephemeral range (from 32768), so that no outgoing
// connection takes one of them while a test stops and starts a server on
// it, and never one this test process handed out before, so that two
// tests running at once never share one.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	const low, high = 20000, 32700
	portsMu.Lock()
	defer portsMu.Unlock()
	for try := 0; try < 200; try++ {
		base := low + rand.IntN(high-low-n)
		ok := true
		for i := 0; i < n && ok; i++ {
			if portsTaken[base+i] {
				ok = false
				break
			}
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			for i := range n {
				portsTaken[base+i] = true
			}
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// portsTaken are the ports freePorts handed out in this process.
var (
	portsMu    sync.Mutex
	portsTaken = map[int]bool{}
)

// tempDir is a temporary directory the postgres user can use too.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "narthex-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(d, 0o755)
	t.Cleanup(func() { os.RemoveAll(d) })
	abs, _ := filepath.Abs(d)
	return abs
}

// uploadPath puts data as an uncompressed NAR file and a narinfo of a new
// path named p listing it and referring to the paths refs (hashes of
// paths also named p), unsigned, to the origin at base with token,
// failing the test unless both are accepted; it returns the path's hash,
// the file's key and the narinfo's text.
func uploadPath(t *testing.T, base, token string, data []byte, refs ...string) (hash, key, narinfo string) {
	t.Helper()
	hash, key, narinfo, status, body := tryUploadPath(t, base, token, data, refs...)
	if status != http.StatusOK {
		t.Fatalf("upload of %s = %d %s", hash, status, body)
	}
	return hash, key, narinfo
}

// tryUploadPath is uploadPath, returning the narinfo upload's status and
// body instead of failing on a refusal. The NAR file must be accepted.
func tryUploadPath(t *testing.T, base, token string, data []byte, refs ...string) (hash, key, narinfo string, status int, body string) {
	t.Helper()
	put := func(path string, body []byte) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, base+"/"+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	sum := sha256.Sum256(data)
	digest := nixbase32.EncodeToString(sum[:])
	key = "nar/" + digest + ".nar"
	if status, body := put(key, data); status != http.StatusOK {
		t.Fatalf("PUT %s = %d %s", key, status, body)
	}
	hash = testutil.RandomHash()
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r + "-p"
	}
	narinfo = fmt.Sprintf("StorePath: /nix/store/%s-p\nURL: %s\nCompression: none\nFileHash: sha256:%s\nFileSize: %d\n"+
		"NarHash: sha256:%s\nNarSize: %d\nReferences: %s\n", hash, key, digest, len(data), digest, len(data), strings.Join(names, " "))
	status, body = put(hash+".narinfo", []byte(narinfo))
	return hash, key, narinfo, status, body
}
