package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portFile, in the cluster folder, keeps the port of the last start, so that
// a cluster started with Port 0 keeps its address across restarts.
const portFile = "port"

// keptPort returns the port the cluster in dir last listened on, or a free
// one for a new cluster.
func keptPort(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, portFile))
	if errors.Is(err, fs.ErrNotExist) {
		return freePort()
	}
	if err != nil {
		return 0, fmt.Errorf("read kept port: %w", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || port <= 0 || port > 65535 {
		return 0, fmt.Errorf("kept port in %s: %q is not a port", filepath.Join(dir, portFile), strings.TrimSpace(string(b)))
	}
	return port, nil
}

// keepPort records the port the cluster in dir listens on.
func keepPort(dir string, port int) error {
	path := filepath.Join(dir, portFile)
	if err := os.WriteFile(path+".tmp", []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return fmt.Errorf("keep port: %w", err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("keep port: %w", err)
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// server binds it shortly after; if something else takes it in between,
// the server fails to start and says so in its log.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
