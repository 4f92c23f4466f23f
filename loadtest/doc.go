// Package loadtest owns the load generator of narthex and its benchmark
// scenarios: a synthetic cache written straight into the origin database
// (Populate) and, optionally, as static files for a web server such as
// nginx; narinfo lookups against edges and their peers in closed or open
// loop with HDR latency histograms (Lookup), and the same lookups sent by
// wrk (Wrk), each with the server's CPU time per answer when its pid is
// given; bare fasthttp servers that bound what any handler can serve for
// hits and misses (Ceiling); replication lag from commit
// at the origin to visibility on edges or a native subscriber (Lag); the
// time and memory of an edge's bootstrap (Bootstrap); uploads through the
// origin's PUT API (Ingest); and a soak of lookups, commits and an edge
// killed again and again, checked for failed lookups, lost or torn
// transactions and growing memory (Soak); a reference graph of a cache
// to collect, half of it garbage, written, checked and marked in two ways
// (GC), and its collection by `narthex gc` while uploads and lookups run
// (GCRun); and BENCHMARKS.md from the results folder of loadtest/bench.sh
// (ReadBenchResults, WriteBenchmarks).
//
// Everything synthetic is derived from a seed: path i of a seed has the
// hash Hash(seed, i) and the same body on every run, so populate and
// lookup agree without sharing state, and MissHash gives keys nobody
// creates.
//
// It must never target anything but loopback: every URL, listen address
// and database host is checked (127.0.0.0/8, ::1, localhost, or a unix
// socket for PostgreSQL) and refused with ErrNotLoopback otherwise. It must
// never run unbounded: every loop is bounded both in count (paths,
// requests, commits, uploads) and in time (a duration or timeout that
// cannot be switched off), and the ceiling server stops at its duration or
// when its context ends. Its generators share the machine with the
// servers they measure, so the lookup loop allocates nothing per request
// (BenchmarkLookup_Request shows it). It never imports the origin, edge or
// replication packages: it talks to them over HTTP, SQL and their command
// line only; nor the gc package, whose collector it runs as `narthex gc`.
//
// A typical comparison, after populating the origin with 100000 paths of
// seed 1:
//
//	results, err := loadtest.Lookup(ctx, loadtest.LookupConfig{
//		URLs:     []string{"http://127.0.0.1:8081", "http://127.0.0.1:8090"},
//		Keys:     100000,
//		Seed:     1,
//		HitRatio: 0.5,
//		Duration: 10 * time.Second,
//	})
//	if err != nil {
//		return err
//	}
//	return loadtest.WriteLookupTables(os.Stdout, results)
package loadtest
