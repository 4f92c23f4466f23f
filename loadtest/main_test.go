package loadtest_test

import (
	"testing"

	"github.com/narthex-cache/narthex/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
