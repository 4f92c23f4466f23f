package importer_test

import (
	"fmt"
	"testing"

	"github.com/narthex-cache/narthex/importer"
	"github.com/narthex-cache/narthex/narinfo"
)

// BenchmarkRun_FileCache imports a directory cache of b.N small paths, in
// chains of ten (each path references the one before), into a real origin
// over a fresh database, and reports paths per second.
func BenchmarkRun_FileCache(b *testing.B) {
	o := newOrigin(b, narinfo.NixStoreDir)
	c := newTestCache(b, narinfo.NixStoreDir)
	var prev *testPath
	for i := range b.N {
		if i%10 == 0 {
			prev = c.add(fmt.Sprintf("p%d", i))
		} else {
			prev = c.add(fmt.Sprintf("p%d", i), prev)
		}
	}
	b.ResetTimer()
	sum, err := importer.Run(b.Context(), o.config("file://"+c.dir))
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if sum.Imported != b.N {
		b.Fatalf("imported %d of %d", sum.Imported, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "paths/s")
}
