package pgcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultReachableDir is where a root process keeps a cluster whose Dir the
// postgres user cannot reach.
const DefaultReachableDir = "/var/lib/narthex/postgres"

// place returns the folder the cluster's files live in.
//
// That is dir itself, unless this process runs as root and the postgres
// user, who runs the server, cannot pass through dir's parents (root's home
// is private, and so are mktemp -d folders). Then the files go to a folder
// under reachable named after dir's absolute path, and dir becomes a
// symbolic link to it, so that later starts (and the user) find it. The
// permissions of the user's own folders are left as they are.
//
// A dir that is already a symbolic link is followed, and a dir holding
// files is used as it is: if the postgres user cannot reach it, initdb or
// the server fails, and the error says which parent is closed.
func (a account) place(dir, reachable string) (string, error) {
	fi, err := os.Lstat(dir)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(dir)
		if err != nil {
			return "", fmt.Errorf("cluster dir: %w", err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(dir), target)
		}
		return filepath.Clean(target), nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("cluster dir: %w", err)
	}
	if a.cred == nil || a.blockedAt(dir) == "" {
		return dir, nil
	}
	if empty, err := isEmptyDir(dir); err != nil || !empty {
		return dir, err
	}
	target := filepath.Join(reachable, placeName(dir))
	if err := os.MkdirAll(reachable, 0o755); err != nil {
		return "", fmt.Errorf("cluster dir: %w", err)
	}
	if why := a.blockedAt(target); why != "" {
		return "", fmt.Errorf("cluster dir: %s is out of reach too: %s", target, why)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cluster dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("cluster dir: %w", err)
	}
	if err := os.Symlink(target, dir); err != nil {
		return "", fmt.Errorf("cluster dir: %w", err)
	}
	return target, nil
}

// placeName is a folder name that is stable for dir and unique to it: its
// last two path elements, for people, and a digest of the whole path.
func placeName(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	var b strings.Builder
	for _, r := range filepath.Base(filepath.Dir(dir)) + "-" + filepath.Base(dir) {
		if b.Len() == 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String() + "-" + hex.EncodeToString(sum[:6])
}

// isEmptyDir reports whether dir is missing or an empty folder.
func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("cluster dir: %w", err)
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, nil // a file, or a folder with something in it
}
