package origin

import (
	"net/http"
	"strings"
)

// maxCacheInfoSize bounds the nix-cache-info a client may PUT.
const maxCacheInfoSize = 64 << 10

// putCacheInfo accepts the nix-cache-info Nix uploads when its GET failed,
// as long as it names our store directory. Ours is served either way.
func (s *Server) putCacheInfo(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxCacheInfoSize)
	if err != nil {
		return err
	}
	storeDir := ""
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "StoreDir:"); ok {
			storeDir = strings.TrimSpace(v)
		}
	}
	switch storeDir {
	case s.cfg.StoreDir:
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "":
		return badRequest("nix-cache-info has no StoreDir")
	}
	return badRequest("StoreDir %q does not match this cache's %s", storeDir, s.cfg.StoreDir)
}
