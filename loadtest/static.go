package loadtest

import (
	"fmt"
	"os"
	"path/filepath"
)

// staticCacheInfo is the nix-cache-info of a static copy of a synthetic
// cache, the same as an edge announces by default.
const staticCacheInfo = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"

// staticDir is a folder a static web server (nginx) serves as a binary
// cache: <hash>.narinfo files and nix-cache-info at its root.
type staticDir struct{ dir string }

func newStaticDir(dir string) (*staticDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("static dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nix-cache-info"), []byte(staticCacheInfo), 0o644); err != nil {
		return nil, fmt.Errorf("static dir: %w", err)
	}
	return &staticDir{dir: dir}, nil
}

// write writes body as <hash>.narinfo. Files are not synced: a static copy
// is rebuilt, not recovered, after a crash.
func (s *staticDir) write(hash string, body []byte) error {
	if err := os.WriteFile(filepath.Join(s.dir, hash+".narinfo"), body, 0o644); err != nil {
		return fmt.Errorf("static dir: %w", err)
	}
	return nil
}
