package deploy

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/narthex-cache/narthex/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// buildNarthex builds the narthex binary into a folder of the test and
// returns its path.
func buildNarthex(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "narthex")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/narthex-cache/narthex/cmd/narthex")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
